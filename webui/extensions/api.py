"""The object an extension's ``setup(ext)`` receives: everything an extension may do.

Registrations are recorded on the handle and applied by the host (tabs when the UI is built,
routes when the app is assembled, callbacks at once), so an extension never touches Atelier's
internals and a failing ``setup`` leaves nothing half-registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter

from pipelines.diffusion.alwayson import AlwaysOnScript
from pipelines.events import AppStarted, ImageSaved, ModelLoaded
from pipelines.outputs import Postprocessor
from pipelines.scripts.registry import SelectableScript
from webui.extensions.manifest import Manifest

API_VERSION = 1
"""Version of this API. An extension declares the version it needs (``api`` in extension.toml);
one newer than this is refused with a message, older ones keep working."""

TabBuilder = Callable[[], None]
"""Builds the tab's Gradio components; called inside ``gr.Tab(title)``."""

@dataclass(frozen=True)
class ExtensionTab:
    title: str
    build: TabBuilder
    owner: str


@dataclass
class Registrations:
    """Everything one extension registered (applied by the host only if setup succeeded)."""

    tabs: list[ExtensionTab] = field(default_factory=list)
    scripts: list[Any] = field(default_factory=list)
    postprocessors: list[Postprocessor] = field(default_factory=list)
    callbacks: list[tuple[str, Callable[[Any], None]]] = field(default_factory=list)


class Extension:
    """One extension's handle. Public API version: :data:`webui.extensions.API_VERSION`."""

    def __init__(self, manifest: Manifest, folder: Path, ctx: Any = None) -> None:
        self._ctx = ctx  # internal: for Atelier's own built-in extensions only, not part of the API
        self.name = manifest.name
        self.version = manifest.version
        self.folder = folder
        self.router = APIRouter(prefix=f"/ext/{manifest.name}", tags=[f"ext:{manifest.name}"])
        """FastAPI routes added here are served under ``/ext/<name>/``."""
        self.registered = Registrations()

    def add_tab(self, title: str, build: TabBuilder) -> None:
        """A UI tab placed after Settings; ``build()`` creates its components."""
        self.registered.tabs.append(ExtensionTab(title, build, self.name))

    def add_script(self, script: SelectableScript | AlwaysOnScript) -> None:
        """A selectable script (Script dropdown, API ``script_name`` / ``script_args``) or an
        always-on script (an accordion in txt2img / img2img, API ``alwayson_scripts``)."""
        self.registered.scripts.append(script)

    def add_postprocessor(self, fn: Postprocessor) -> None:
        """``fn(image, info) -> image`` runs on every image just before it is saved."""
        self.registered.postprocessors.append(fn)

    def on_app_started(self, fn: Callable[[AppStarted], None]) -> None:
        self.registered.callbacks.append(("app_started", fn))

    def on_model_loaded(self, fn: Callable[[ModelLoaded], None]) -> None:
        self.registered.callbacks.append(("model_loaded", fn))

    def on_image_saved(self, fn: Callable[[ImageSaved], None]) -> None:
        self.registered.callbacks.append(("image_saved", fn))
