"""The model manager: one place that turns a model name into a loaded, cached model.

Generation, faces and detection all ask it (and its cache) for models, so one memory budget
covers them all. Selecting a model or VAE that fails to load keeps the current one: a choice
is kept only once it loaded, so one bad request never breaks the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from pipelines.device import DevicePolicy
from pipelines.models.cache import ModelCache
from pipelines.models.catalog import CheckpointInfo, ModelCatalog, UnknownModelError, VaeInfo, empty_folder_hint
from pipelines.models.loader import LoadedCheckpoint, ModelLoadError, load_checkpoint, load_vae, module_bytes

log = logging.getLogger(__name__)

VAE_AUTOMATIC = "Automatic"
VAE_NONE = "None"


class NoCheckpointError(ModelLoadError):
    """There is no usable checkpoint at all; the message says where to put one."""


@dataclass
class LoadEvent:
    """A record of one disk load, for stats, tests and the UI."""

    kind: str
    name: str
    seconds: float


@dataclass
class ModelManager:
    """Holds the current checkpoint and VAE choice; loads through the shared cache."""

    catalog: ModelCatalog
    policy: DevicePolicy
    cache: ModelCache
    # The user's saved choice (the settings' sd_model_checkpoint), read live
    saved_choice: Callable[[], Optional[str]] = lambda: None
    loads: list[LoadEvent] = field(default_factory=list)
    on_model_loaded: list[Callable[[LoadedCheckpoint], None]] = field(default_factory=list)
    _current: Optional[LoadedCheckpoint] = None
    _vae_choice: str = VAE_AUTOMATIC
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def current(self) -> Optional[LoadedCheckpoint]:
        return self._current

    @property
    def vae_choice(self) -> str:
        return self._vae_choice

    def selected(self) -> Optional[CheckpointInfo]:
        """The checkpoint a request that names none uses (A1111's ``opts.sd_model_checkpoint``):
        the saved choice when it is usable, else the loaded one, else the first usable; None
        when there is no usable checkpoint at all. The UI, the API and the engine all ask this."""
        choice = self.saved_choice()
        if choice:
            try:
                info = self.catalog.find_checkpoint(choice)
                if info.usable:
                    return info
            except LookupError:
                log.warning("saved checkpoint %r is gone; using the loaded or first usable one", choice)
        if self._current is not None:
            return self._current.info
        usable = self.catalog.usable_checkpoints()
        return usable[0] if usable else None

    def resolve(self, query: Optional[str]) -> CheckpointInfo:
        """The catalog entry for ``query``; None means :meth:`selected`."""
        if query:
            return self.catalog.find_checkpoint(query)
        info = self.selected()
        if info is None:
            raise NoCheckpointError(empty_folder_hint(self.catalog.models_dir))
        return info

    def checkpoint(self, query: Optional[str] = None) -> LoadedCheckpoint:
        """Make ``query`` the current checkpoint (cached when possible) and return it.

        If the chosen VAE does not load on it, the checkpoint stays current with the
        Automatic VAE and ModelLoadError says why (the next request then works)."""
        with self._lock:
            info = self.resolve(query)
            if self._current is not None and self._current.info.path == info.path:
                self._apply_chosen_vae(self._current)
                return self._current
            loaded = self._get_or_load(info)
            previous = self._current
            self._current = loaded
            self.cache.pin(self._key(info))
            if previous is not None:
                self.cache.unpin(self._key(previous.info))
                self._park(previous)
            for callback in self.on_model_loaded:
                callback(loaded)
            self._apply_chosen_vae(loaded)
            return loaded

    def _apply_chosen_vae(self, loaded: LoadedCheckpoint) -> None:
        """Apply the VAE choice; one that fails (a file changed or never tried on a model) is
        dropped for Automatic, so it cannot fail every later request too."""
        try:
            self._apply_vae(loaded)
        except Exception as exc:
            failed, self._vae_choice = self._vae_choice, VAE_AUTOMATIC
            log.warning("VAE %r failed to load on %s; using Automatic: %s", failed, loaded.info.name, exc)
            self._apply_vae(loaded)
            raise _vae_load_error(failed, exc, "Automatic is used from now on") from exc

    def peek(self, query: str) -> LoadedCheckpoint:
        """Load a secondary checkpoint (e.g. the SDXL refiner) without making it current."""
        with self._lock:
            info = self.resolve(query)
            if self._current is not None and self._current.info.path == info.path:
                return self._current
            return self._get_or_load(info)

    def check_vae(self, choice: str) -> str:
        """``choice`` if it names a usable VAE option; UnknownModelError (listing the VAEs, or
        saying why that file cannot be used) otherwise."""
        if choice not in (VAE_AUTOMATIC, VAE_NONE):
            vae = self.catalog.find_vae(choice)
            if not vae.usable:
                raise UnknownModelError(f"VAE {vae.name} cannot be used: {vae.error}")
        return choice

    def set_vae(self, choice: str) -> None:
        """Choose ``Automatic`` (checkpoint's own or a same-named file), ``None`` or a file.

        With a checkpoint loaded the VAE is loaded now, and the choice is kept only if that
        worked (ModelLoadError otherwise, the previous choice still in place)."""
        with self._lock:
            choice = self.check_vae(choice)
            previous, self._vae_choice = self._vae_choice, choice
            if self._current is None:
                return
            try:
                self._apply_vae(self._current)
            except Exception as exc:
                self._vae_choice = previous
                raise _vae_load_error(choice, exc, "the VAE choice stays as it was") from exc

    def select_vae(self, choice: str) -> None:
        """:meth:`set_vae` checked on a model: the user's choice (options, UI) is stored only
        once it loaded, so the selected checkpoint is loaded first when none is."""
        with self._lock:
            if self._current is None and self.selected() is not None:
                try:
                    self.checkpoint(None)
                except ModelLoadError:
                    if self._current is None:
                        raise
            self.set_vae(choice)

    def unload(self) -> None:
        """Drop the current checkpoint from memory entirely (A1111 ``unload-checkpoint``)."""
        with self._lock:
            if self._current is not None:
                self.cache.pop(self._key(self._current.info))
                self._current = None
            self.cache.clear()
            self.policy.empty_cache()

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _key(info: CheckpointInfo) -> tuple[str, str]:
        return ("checkpoint", str(info.path))

    def _get_or_load(self, info: CheckpointInfo) -> LoadedCheckpoint:
        key = self._key(info)
        loaded = self.cache.get(key)
        if loaded is not None:
            loaded.to(self.policy.device)
            return loaded
        if not info.usable:
            raise ModelLoadError(f"{info.name} cannot be used: {info.error}")
        self.catalog.ensure_hash(info)
        start = time.perf_counter()
        loaded = load_checkpoint(info, self.policy)
        self.loads.append(LoadEvent("checkpoint", info.name, time.perf_counter() - start))
        log.info("loaded %s in %.2fs", info.title, self.loads[-1].seconds)
        self.cache.put(key, loaded, loaded.nbytes)
        return loaded

    def _park(self, loaded: LoadedCheckpoint) -> None:
        """Move an inactive model off the accelerator; it stays cached in host RAM."""
        if self.policy.device != self.policy.offload_device:
            loaded.to(self.policy.offload_device)
            self.policy.empty_cache()

    def _vae_for(self, loaded: LoadedCheckpoint) -> Optional[VaeInfo]:
        if self._vae_choice == VAE_NONE:
            return None
        if self._vae_choice == VAE_AUTOMATIC:
            stem = loaded.info.path.stem
            for vae in self.catalog.usable_vaes():
                if vae.path.stem in (stem, f"{stem}.vae"):
                    return vae
            return None
        vae = self.catalog.find_vae(self._vae_choice)
        if not vae.usable:
            raise ModelLoadError(f"VAE {vae.name} cannot be used: {vae.error}")
        return vae

    def _apply_vae(self, loaded: LoadedCheckpoint) -> None:
        vae = self._vae_for(loaded)
        if (vae.path if vae else None) == (loaded.vae.path if loaded.vae else None):
            return
        if vae is None:
            loaded.set_vae(loaded.base_vae, None)
            return
        key = ("vae", str(vae.path), loaded.architecture.config_name)
        module = self.cache.get(key)
        if module is None:
            start = time.perf_counter()
            module = load_vae(vae, loaded.architecture, loaded.info.config_dir, self.policy)
            self.loads.append(LoadEvent("vae", vae.name, time.perf_counter() - start))
            self.cache.put(key, module, module_bytes(module))
        loaded.set_vae(module.to(self.policy.device), vae)


def _vae_load_error(choice: str, exc: BaseException, outcome: str) -> ModelLoadError:
    """The error a request sees when the VAE it chose did not load: which, why, what now."""
    if isinstance(exc, ModelLoadError) and choice in str(exc):
        return ModelLoadError(f"{exc}; {outcome}")
    return ModelLoadError(f"could not load VAE {choice}: {type(exc).__name__}: {exc}; {outcome}")
