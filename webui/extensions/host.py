"""Find extensions, check them, run their ``setup`` and collect what they registered.

A broken extension (bad manifest, API version too new, missing requirement, import error,
exception in ``setup``) is recorded with its error and skipped: the app always starts.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from fastapi import APIRouter
from packaging.requirements import InvalidRequirement, Requirement

from pipelines.scripts.registry import SelectableScript
from webui.extensions import gitops
from webui.extensions.api import API_VERSION, Extension, ExtensionTab, Postprocessor
from webui.extensions.manifest import MANIFEST, Manifest, ManifestError, read_manifest
from webui.extensions.state import ExtensionState

if TYPE_CHECKING:
    from pipelines.context import AtelierContext

log = logging.getLogger(__name__)

MODULE_PREFIX = "atelier_extensions"
BUILTIN_ROOT = Path(__file__).resolve().parents[2] / "extensions" / "builtin"
"""Extensions that ship with Atelier (the built-in scripts): loaded like any other."""


class ExtensionLoadError(Exception):
    """Why one extension was not loaded (shown in the Extensions tab)."""


@dataclass
class ExtensionRecord:
    """One folder under an extensions root and what became of it."""

    folder: Path
    name: str
    manifest: Optional[Manifest] = None
    enabled: bool = True
    error: Optional[str] = None
    handle: Optional[Extension] = None
    builtin: bool = False
    installed_now: bool = False
    """Installed while running: loads on the next start."""

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.installed_now:
            return "restart to load"
        return "loaded" if self.handle is not None else "disabled"

    def row(self) -> dict[str, Any]:
        """A1111's GET /sdapi/v1/extensions item, plus Atelier's status and error."""
        manifest = self.manifest
        return {
            "name": self.name,
            "remote": _git_remote(self.folder),
            "branch": "",
            "commit_hash": "",
            "version": manifest.version if manifest else "",
            "commit_date": 0,
            "enabled": self.enabled,
            "description": manifest.description if manifest else "",
            "status": self.status,
            "builtin": self.builtin,
            "error": self.error,
            "path": str(self.folder),
        }


def _git_remote(folder: Path) -> Optional[str]:
    config = folder / ".git" / "config"
    try:
        lines = config.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    urls = [line.split("=", 1)[1].strip() for line in lines if line.strip().startswith("url")]
    return urls[0] if urls else None


def _check_requirements(manifest: Manifest) -> None:
    """Requirements are checked, never installed at start-up: say what to install instead."""
    for text in manifest.requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise ExtensionLoadError(f"invalid requirement {text!r}: {exc}") from exc
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            raise ExtensionLoadError(f"requires {text!r}, which is not installed "
                                     f"(install it into Atelier's .venv)") from None
        if requirement.specifier and installed not in requirement.specifier:
            raise ExtensionLoadError(f"requires {text!r}; installed: {requirement.name} {installed}")


def _import_entry(manifest: Manifest, folder: Path) -> Any:
    """Import the entry file as package ``atelier_extensions.<name>`` (relative imports work)."""
    entry = folder / manifest.entry
    if not entry.is_file():
        raise ExtensionLoadError(f"entry file {manifest.entry!r} not found")
    module_name = f"{MODULE_PREFIX}.{manifest.name.replace('-', '_').replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, entry, submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None:
        raise ExtensionLoadError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit from user code
        sys.modules.pop(module_name, None)
        raise ExtensionLoadError(_short_traceback(exc, entry)) from exc
    return module


def _short_traceback(exc: BaseException, near: Path) -> str:
    """The exception with the last frame inside the extension, not Atelier's import machinery."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or near).name}, line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if str(near.parent) in (f.filename or "")]
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class ExtensionHost:
    """All extensions found under ``roots``; the enabled ones loaded and their registrations."""

    def __init__(self, user_root: Optional[Path], state: ExtensionState, ctx: "AtelierContext",
                 disable_all: bool = False, allow_install: bool = True, builtin_root: Path = BUILTIN_ROOT,
                 allow_local_sources: bool = False) -> None:
        self.user_root = Path(user_root) if user_root is not None else None
        self.builtin_root = builtin_root
        self.state = state
        self.ctx = ctx
        self.disable_all = disable_all
        self.allow_install = allow_install
        """False when serving publicly without --enable-insecure-extension-access (A1111's rule)."""
        self.allow_local_sources = allow_local_sources
        """``file://`` sources (code from anywhere on this disk): only with --enable-insecure-extension-access."""
        self.records: list[ExtensionRecord] = []

    def load(self) -> list[ExtensionRecord]:
        """Discover every extension folder and load the enabled ones (once, at start-up)."""
        seen: set[str] = set()
        for folder, builtin in self._folders():
            record = self._load_one(folder, builtin, seen)
            self.records.append(record)
            if record.error:
                log.warning("extension %s not loaded: %s", record.name, record.error)
        return self.records

    def _folders(self) -> list[tuple[Path, bool]]:
        """(folder, is built-in): built-ins first, then the user's, each sorted by name."""
        folders: list[tuple[Path, bool]] = []
        for root, builtin in ((self.builtin_root, True), (self.user_root, False)):
            if root is not None and root.is_dir():
                found = sorted((p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).exists()),
                               key=lambda p: p.name.casefold())
                folders += [(p, builtin) for p in found]
        return folders

    def _load_one(self, folder: Path, builtin: bool, seen: set[str]) -> ExtensionRecord:
        record = ExtensionRecord(folder=folder, name=folder.name, builtin=builtin)
        try:
            record.manifest = manifest = read_manifest(folder)
        except ManifestError as exc:
            record.error = str(exc)
            return record
        record.name = manifest.name
        record.enabled = self.state.is_enabled(manifest.name) and not self.disable_all
        if manifest.name in seen:
            record.error = f"another extension is already named {manifest.name!r}"
            return record
        seen.add(manifest.name)
        if manifest.api > API_VERSION:
            record.error = (f"needs extension API v{manifest.api}; this Atelier provides v{API_VERSION} "
                            "(update Atelier or use an older version of the extension)")
            return record
        if not record.enabled:
            return record
        try:
            _check_requirements(manifest)
            module = _import_entry(manifest, folder)
            setup = getattr(module, "setup", None)
            if not callable(setup):
                raise ExtensionLoadError(f"{manifest.entry} defines no setup(ext) function")
            handle = Extension(manifest, folder, self.ctx)
            try:
                setup(handle)
            except Exception as exc:  # noqa: BLE001 - user code
                raise ExtensionLoadError(_short_traceback(exc, folder / manifest.entry)) from exc
            self._apply(handle)
        except ExtensionLoadError as exc:
            record.error = str(exc)
            return record
        record.handle = handle
        return record

    def _apply(self, handle: Extension) -> None:
        """Register the scripts, post-processors and callbacks into the context, all or none."""
        owner = f"extension {handle.name}"
        undo: list[Any] = []
        try:
            for script in handle.registered.scripts:
                registry = self.ctx.scripts if isinstance(script, SelectableScript) else self.ctx.alwayson
                undo.append(registry.register(script, owner=owner))
        except ValueError as exc:
            for unregister in undo:
                unregister()
            raise ExtensionLoadError(str(exc)) from exc
        for index, fn in enumerate(handle.registered.postprocessors):
            self.ctx.writer.postprocessors[f"{owner} #{index}"] = fn
        for event, fn in handle.registered.callbacks:
            self.ctx.events.subscribe(event, fn, owner=owner)  # type: ignore[arg-type]

    def loaded(self) -> list[Extension]:
        return [r.handle for r in self.records if r.handle is not None]

    @property
    def tabs(self) -> list[ExtensionTab]:
        return [tab for ext in self.loaded() for tab in ext.registered.tabs]

    @property
    def routers(self) -> list[APIRouter]:
        return [ext.router for ext in self.loaded() if ext.router.routes]

    @property
    def postprocessors(self) -> list[Postprocessor]:
        return [fn for ext in self.loaded() for fn in ext.registered.postprocessors]

    @property
    def scripts(self) -> list[Any]:
        return [script for ext in self.loaded() for script in ext.registered.scripts]

    def find(self, name: str) -> ExtensionRecord:
        for record in self.records:
            if record.name == name:
                return record
        raise LookupError(f"no extension named {name!r}")

    # --- management (UI and API): changes apply on the next start --------------------------

    @property
    def install_root(self) -> Path:
        """Where installs go: the user's extensions folder (``--extensions-dir``)."""
        if self.user_root is None:
            raise gitops.ExtensionInstallError("no extensions folder configured")
        return self.user_root

    def _check_allowed(self) -> None:
        if not self.allow_install:
            raise gitops.ExtensionInstallError(
                "installing, updating and removing extensions is disabled when the server listens "
                "publicly; restart with --enable-insecure-extension-access to allow it")

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.find(name)
        self.state.set_enabled(name, enabled)
        for record in self.records:
            if record.name == name:
                record.enabled = enabled

    def install(self, url: str, name: Optional[str] = None) -> Path:
        self._check_allowed()
        folder = gitops.install(self.install_root, url, name, allow_local=self.allow_local_sources)
        manifest = read_manifest(folder)
        self.records.append(ExtensionRecord(folder=folder, name=manifest.name, manifest=manifest,
                                            installed_now=True))
        return folder

    def update(self, name: str) -> str:
        self._check_allowed()
        self._check_not_builtin(name)
        return gitops.update(self._root_of(name), self.find(name).folder.name, allow_local=self.allow_local_sources)

    def uninstall(self, name: str) -> None:
        self._check_allowed()
        self._check_not_builtin(name)
        record = self.find(name)
        gitops.uninstall(self._root_of(name), record.folder.name)
        self.records.remove(record)

    def _check_not_builtin(self, name: str) -> None:
        if self.find(name).builtin:
            raise gitops.ExtensionInstallError(f"{name} ships with Atelier; it can be disabled, not changed")

    def _root_of(self, name: str) -> Path:
        return self.find(name).folder.parent
