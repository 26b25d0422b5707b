"""The object an extension's ``setup(ext)`` receives: everything an extension may do.

Registrations are recorded on the handle and applied by the host (tabs when the UI is built,
routes when the app is assembled, callbacks at once), so an extension never touches Atelier's
internals and a failing ``setup`` leaves nothing half-registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from fastapi import APIRouter
from PIL import Image

from pipelines.diffusion.alwayson import AlwaysOnScript
from pipelines.diffusion.result import GenerationResult
from pipelines.events import AppStarted, ImageSaved, JobStep, ModelLoaded
from pipelines.faces.swap import PreparedSource, SwapOptions
from pipelines.outputs import Postprocessor
from pipelines.scripts import axis_choices, run_script
from pipelines.scripts.registry import ScriptCall, SelectableScript
from webui.extensions.manifest import Manifest

API_VERSION = 2
"""Version of this API. An extension declares the version it needs (``api`` in extension.toml);
one newer than this is refused with a message, older ones keep working.

- 1: tabs, routes, scripts, post-processors, callbacks.
- 2: ``ext.faces`` (:class:`FaceTools`), ``ext.pixel_upscalers()``, ``ext.axis_choices()``,
  ``ext.on_job_step()``, :func:`run_builtin_script` and the face-swap / image-decoding names
  of ``webui.extensions``.
"""

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


class FaceTools:
    """Atelier's shared Faces engine (API 2): swaps on its model cache, models loaded on first use."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def restorers(self) -> list[str]:
        """Face restorer names (files of ``models/facerestore``)."""
        return self._ctx.faces.layout.restorers()

    def require_restorer(self, name: str) -> None:
        """ValueError naming the folder when restorer ``name`` is not installed."""
        self._ctx.faces.layout.require_restorer(name)

    def swap_methods(self) -> list[str]:
        """Method names to offer: auto, inswapper, classic, then ``trained model: <name>`` per trained model."""
        return self._ctx.faces.swap_methods()

    def needs_source(self, method: str) -> bool:
        """False for a trained model: it holds the source person, no picture is needed."""
        return self._ctx.faces.needs_source(method)

    def prepare_source(self, image: Optional[Image.Image], face_index: int = 0,
                       method: str = "auto") -> PreparedSource:
        """Detect and embed the source face once (ValueError: no such face / method)."""
        return self._ctx.faces.prepare_source(image, face_index, method)

    def swap(self, image: Image.Image, source: PreparedSource, options: SwapOptions = SwapOptions()) -> Image.Image:
        """``image`` with ``source`` swapped into the faces ``options`` select."""
        return self._ctx.faces.swap_prepared(image, source, options).image


def run_builtin_script(call: ScriptCall, title: str) -> GenerationResult:
    """Run one of A1111's scripts that Atelier implements (X/Y/Z plot, Prompt matrix, Prompts
    from file or textbox, SD upscale) with ``call``'s request and positional arguments (API 2)."""
    return run_script(call.engine, call.request, title, call.args, call.control)


class Extension:
    """One extension's handle. Public API version: :data:`webui.extensions.API_VERSION`."""

    def __init__(self, manifest: Manifest, folder: Path, ctx: Any = None) -> None:
        self._ctx = ctx  # the application context, reached only through the methods below
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

    def on_job_step(self, fn: Callable[[JobStep], None]) -> None:
        """``fn(JobStep)`` on every progress report of every queued job, on the job's own
        thread (API 2; like A1111's per-step callback). Keep it quick: the job waits for it."""
        self.registered.callbacks.append(("job_step", fn))

    @property
    def faces(self) -> FaceTools:
        """The shared Faces engine (API 2)."""
        return FaceTools(self._ctx)

    def pixel_upscalers(self) -> list[str]:
        """Pixel upscaler names in A1111's order: None, Lanczos, Nearest, then files (API 2)."""
        return self._ctx.engine.pixel_upscalers()

    def axis_choices(self, axis_type: str) -> Optional[list[str]]:
        """The values an X/Y/Z plot axis of ``axis_type`` can take (checkpoints, samplers…),
        None for free text (API 2)."""
        return axis_choices(self._ctx.engine, axis_type)
