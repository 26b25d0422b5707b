"""LoRA files: the ``models/Lora`` catalog and applying LoRAs to a loaded checkpoint.

Formats: kohya-ss (``lora_unet_…``, ``lora_te_…``, SDXL ``lora_te1_``/``lora_te2_`` with LDM
UNet names, ``.alpha``), LoCon / LyCORIS conv layers in kohya naming, and diffusers/peft files.
They are applied as peft adapters through diffusers' loaders, never fused: the base weights are
not touched, so removing a LoRA (``unload_lora_weights``) restores the model bit-exactly.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import torch

from pipelines.models.catalog import entry_problem, find_model_files
from pipelines.models.architecture import Architecture, ModelFamily
from pipelines.models.cache import ModelCache
from pipelines.models.hashing import HashCache, addnet_hash_safetensors
from pipelines.models.identify import read_safetensors_header
from pipelines.models.pickles import RefusedPickleError
from pipelines.models.tensorfile import read_tensor_file
from pipelines.networks.tags import NetworkRequest, infotext_name

if TYPE_CHECKING:
    from pipelines.models.loader import LoadedCheckpoint

log = logging.getLogger(__name__)

LORA_DIR = "Lora"
LYCORIS_DIR = "LyCORIS"  # A1111 still reads the old LyCORIS extension's folder
LORA_EXTENSIONS = (".safetensors", ".pt", ".ckpt")
_SDXL_TE_PREFIXES = ("lora_te1_", "lora_te2_", "text_encoder_2.")
_UNSUPPORTED_PARTS = {".hada_": "LoHa", ".lokr_": "LoKr", ".on_input": "IA3", ".oft_": "OFT", ".b_norm": "norm"}
_BUNDLED_EMBEDDING = "bundle_emb."
Stamp = tuple[int, int]  # (mtime_ns, size): a changed file is reloaded


# ------------------------------------------------------------------------------------- the catalog


def lora_family(keys: Sequence[str], metadata: Mapping[str, str]) -> Optional[ModelFamily]:
    """The model family a LoRA was trained for, from kohya metadata or key names (None: unknown)."""
    base = str(metadata.get("ss_base_model_version", ""))
    spec = str(metadata.get("modelspec.architecture", ""))
    if base.startswith("sdxl_") or spec.startswith("stable-diffusion-xl"):
        return ModelFamily.SDXL
    if str(metadata.get("ss_v2", "")) == "True" or spec.startswith("stable-diffusion-v2") or base.startswith("sd_v2"):
        return ModelFamily.SD2
    if any(key.startswith(_SDXL_TE_PREFIXES) for key in keys):
        return ModelFamily.SDXL
    if base.startswith("sd_v1") or spec.startswith("stable-diffusion-v1"):
        return ModelFamily.SD1
    return None


def lora_folders(models_dir: Path) -> list[Path]:
    """Where A1111 looks for LoRAs in a models folder: ``Lora/`` and the legacy ``LyCORIS/``."""
    return [Path(models_dir) / LORA_DIR, Path(models_dir) / LYCORIS_DIR]


def family_mismatch(family: Optional[ModelFamily], arch: Architecture) -> bool:
    """True when a LoRA for ``family`` certainly cannot apply to a checkpoint of ``arch``."""
    if family is None:
        return False
    return (family is ModelFamily.SDXL) != arch.is_xl


@dataclass
class LoraInfo:
    """One LoRA file; ``name`` is the file stem and ``alias`` kohya's ``ss_output_name``."""

    path: Path
    name: str
    alias: str
    metadata: dict[str, str] = field(default_factory=dict)
    family: Optional[ModelFamily] = None
    error: Optional[str] = None

    @property
    def is_safetensors(self) -> bool:
        return self.path.suffix.lower() == ".safetensors"

    @property
    def stamp(self) -> Stamp:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    @property
    def adapter_name(self) -> str:
        """A peft adapter name for this file (no dots; stable for a path)."""
        return "lora_" + hashlib.sha1(str(self.path.resolve()).encode()).hexdigest()[:12]


def describe_lora(path: Path) -> LoraInfo:
    """Read a LoRA's metadata and family without loading its tensors (the safetensors header;
    a pickle's names and shapes on the meta device, so a refused pickle is listed as such)."""
    info = LoraInfo(path=path, name=path.stem, alias=path.stem, error=entry_problem(path))
    if info.error:
        return info
    try:
        if not info.is_safetensors:
            read_tensor_file(path, meta=True)
            return info
        header = read_safetensors_header(path)
    except Exception as exc:  # a broken file is listed with the reason, never fatal
        info.error = str(exc) if path.name in str(exc) else f"{path.name}: {exc}"
        return info
    metadata = header.get("__metadata__") or {}
    info.metadata = {str(k): str(v) for k, v in metadata.items()}
    info.alias = info.metadata.get("ss_output_name") or info.name
    info.family = lora_family([k for k in header if k != "__metadata__"], info.metadata)
    return info


class LoraCatalog:
    """The LoRA files under one or more folders (recursive), found by file stem or alias."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._lock = threading.Lock()
        self._items: list[LoraInfo] = []
        self._known: dict[Path, tuple[Stamp, LoraInfo]] = {}

    @property
    def items(self) -> list[LoraInfo]:
        with self._lock:
            return list(self._items)

    def refresh(self) -> None:
        """Rescan the folders; only new or changed files have their header read."""
        known: dict[Path, tuple[Stamp, LoraInfo]] = {}
        for path in self._files():
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError:  # a dangling link: listed as broken
                stamp = (0, -1)
            previous = self._known.get(path)
            known[path] = previous if previous and previous[0] == stamp else (stamp, describe_lora(path))
        with self._lock:
            self._known = known
            self._items = [info for _, info in known.values()]

    def _files(self) -> list[Path]:
        return [path for folder in self.folders for path in find_model_files(folder, LORA_EXTENSIONS, broken=True)]

    def find(self, name: str) -> Optional[LoraInfo]:
        """The LoRA called ``name`` (file stem first, then ``ss_output_name`` alias), or None."""
        items = self.items
        for info in items:
            if info.name == name:
                return info
        for info in items:
            if info.alias == name:
                return info
        return None


# ------------------------------------------------------------------------------------------ hashes


class AddnetHashCache(HashCache):
    """A :class:`HashCache` whose values are kohya's "addnet" hash (sha256 of the tensor data)."""

    def _compute(self, path: Path) -> str:
        return addnet_hash_safetensors(path)


@dataclass
class NetworkHasher:
    """A1111's LoRA hash: ``sshs_model_hash`` metadata, else the addnet hash of a .safetensors,
    else the file's sha256; both computed values are cached by path, size and mtime."""

    addnet_cache: AddnetHashCache
    sha256_cache: HashCache

    def full_hash(self, info: LoraInfo) -> str:
        stored = info.metadata.get("sshs_model_hash")
        if stored:
            return stored
        cache = self.addnet_cache if info.is_safetensors else self.sha256_cache
        return cache.sha256(info.path)

    def shorthash(self, info: LoraInfo) -> str:
        """The 12 hex digits A1111 writes into ``Lora hashes``."""
        return self.full_hash(info)[:12]


# ------------------------------------------------------------------------------------ file loading


def read_lora_file(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a LoRA file on the CPU; pickles are read with ``weights_only``."""
    data = read_tensor_file(path)
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a LoRA state dict")
    return {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}


def unsupported_format(keys: Sequence[str]) -> Optional[str]:
    """The LyCORIS variant a state dict uses when diffusers cannot load it (LoHa, LoKr, …)."""
    for part, label in _UNSUPPORTED_PARTS.items():
        if any(part in key for key in keys):
            return label
    return None


def prepare_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors diffusers' LoRA loader accepts: bundled embeddings (A1111 ``bundle_emb.``) are
    dropped, since they are textual inversions, not layers."""
    return {k: v for k, v in state.items() if not k.startswith(_BUNDLED_EMBEDDING)}


# --------------------------------------------------------------------------------- applying LoRAs


@dataclass(frozen=True)
class _Wanted:
    """A resolved request: the file, the adapter it becomes and the merged multipliers."""

    info: LoraInfo
    stamp: Stamp
    te: float
    unet: float

    @property
    def adapter(self) -> str:
        return self.info.adapter_name

    @property
    def key(self) -> tuple[str, Stamp, float, float]:
        return self.adapter, self.stamp, self.te, self.unet


@dataclass
class _ModelState:
    """What is applied to one checkpoint's modules (they own the adapters, so this tracks them)."""

    unet: "weakref.ref[Any]"
    loaded: dict[str, Stamp] = field(default_factory=dict)
    failed: dict[tuple[str, Stamp], str] = field(default_factory=dict)
    signature: tuple = ()


@dataclass
class ApplyStats:
    """``applied``: requests that changed the model; ``reused``: unchanged sets (no-ops)."""

    applied: int = 0
    reused: int = 0
    files_read: int = 0


class NetworkManager:
    """Applies the LoRAs of a request to a :class:`LoadedCheckpoint`'s shared components.

    Call :meth:`apply` before every generation with that request's LoRAs (an empty list removes
    them all). Unchanged sets are a no-op; a changed set deletes adapters no longer wanted, loads
    new ones and sets every adapter's text-encoder / UNet weight. Problems come back as warning
    strings (A1111's wording where it has one), never as exceptions.
    """

    def __init__(self, catalog: LoraCatalog, hasher: Optional[NetworkHasher] = None,
                 cache: Optional[ModelCache] = None) -> None:
        self.catalog = catalog
        self.hasher = hasher
        self.cache = cache
        self.stats = ApplyStats()
        self._states: dict[int, _ModelState] = {}
        self._lock = threading.RLock()

    # -- public ------------------------------------------------------------------------------
    def apply(self, loaded: LoadedCheckpoint, requests: Sequence[NetworkRequest]) -> list[str]:
        """Make exactly ``requests`` active on ``loaded``; return warnings for the user."""
        with self._lock:
            warnings_: list[str] = []
            state = self._state(loaded)
            wanted = self._resolve(loaded, state, requests, warnings_)
            signature = tuple(w.key for w in wanted)
            if signature == state.signature:
                self.stats.reused += 1
                return warnings_
            try:
                self._sync(loaded, state, wanted, warnings_)
            except Exception as exc:  # never leave a half-applied set behind
                log.exception("applying LoRAs failed")
                warnings_.append(f"LoRAs not applied: {type(exc).__name__}: {exc}")
                try:
                    self._reset(loaded, state)
                except Exception:
                    log.exception("removing LoRAs failed")
            self.stats.applied += 1
            return warnings_

    def clear(self, loaded: LoadedCheckpoint) -> None:
        """Remove every LoRA from ``loaded`` (its weights are the checkpoint's again)."""
        self.apply(loaded, [])

    def signature(self, loaded: LoadedCheckpoint) -> tuple:
        """What is applied to ``loaded`` (names, weights, files); equal signatures, equal weights."""
        with self._lock:
            return self._state(loaded).signature

    def active(self, loaded: LoadedCheckpoint) -> list[str]:
        """Adapter names currently active on ``loaded``."""
        with self._lock:
            return [key[0] for key in self._state(loaded).signature]

    def lora_hashes(self, requests: Sequence[NetworkRequest], loaded: Optional[LoadedCheckpoint] = None
                    ) -> Optional[str]:
        """A1111's ``Lora hashes`` value (``name: hash12, …``) for the requests whose file exists;
        with ``loaded``, only those applied to it (a LoRA that failed to load is no part of the
        image, so the infotext must not claim it)."""
        if self.hasher is None:
            return None
        applied = set(self.active(loaded)) if loaded is not None else None
        hashes: dict[str, str] = {}
        for request in requests:
            info = self.catalog.find(request.name)
            if info is None or info.error or (applied is not None and info.adapter_name not in applied):
                continue
            try:
                hashes[infotext_name(request.name)] = self.hasher.shorthash(info)
            except OSError:
                continue
        return ", ".join(f"{k}: {v}" for k, v in hashes.items()) or None

    # -- resolving ---------------------------------------------------------------------------
    def _resolve(self, loaded: LoadedCheckpoint, state: _ModelState, requests: Sequence[NetworkRequest],
                 warnings_: list[str]) -> list[_Wanted]:
        if any(self.catalog.find(r.name) is None for r in requests):
            self.catalog.refresh()  # A1111 rescans the folder before saying a name is unknown
        merged: dict[Path, _Wanted] = {}
        missing: list[str] = []
        for request in requests:
            info = self.catalog.find(request.name)
            if info is None:
                missing.append(request.name)
                continue
            previous = merged.get(info.path)
            te = request.te_multiplier + (previous.te if previous else 0.0)
            unet = request.unet_multiplier + (previous.unet if previous else 0.0)
            try:
                merged[info.path] = _Wanted(info, info.stamp, te, unet)
            except OSError as exc:
                warnings_.append(f"LoRA {request.name}: {exc}")
        if missing:
            warnings_.append(f"Lora not found: {', '.join(missing)}")
        return [w for w in merged.values() if self._usable(loaded, state, w, warnings_)]

    def _usable(self, loaded: LoadedCheckpoint, state: _ModelState, wanted: _Wanted, warnings_: list[str]) -> bool:
        if wanted.te == 0 and wanted.unet == 0:
            return False  # weight 0 changes nothing: skip it entirely
        info, arch = wanted.info, loaded.architecture
        if info.error:
            warnings_.append(f"LoRA {info.name} cannot be read: {info.error}")
            return False
        if family_mismatch(info.family, arch):
            trained_for = Architecture(info.family).label if info.family else "another model"
            warnings_.append(f"LoRA {info.name} is for {trained_for}, not {arch.label}: skipped")
            return False
        failure = state.failed.get((wanted.adapter, wanted.stamp))
        if failure:
            warnings_.append(failure)
            return False
        return True

    # -- applying ----------------------------------------------------------------------------
    def _state(self, loaded: LoadedCheckpoint) -> _ModelState:
        unet = loaded.components["unet"]
        for key in [k for k, s in self._states.items() if s.unet() is None]:
            del self._states[key]
        state = self._states.get(id(unet))
        if state is None or state.unet() is not unet:
            state = self._states[id(unet)] = _ModelState(weakref.ref(unet))
        return state

    def _sync(self, loaded: LoadedCheckpoint, state: _ModelState, wanted: list[_Wanted],
              warnings_: list[str]) -> None:
        pipe = loaded.pipeline("txt2img")
        if not wanted:
            self._reset(loaded, state)
            return
        keep = {w.adapter for w in wanted if state.loaded.get(w.adapter) == w.stamp}
        stale = [name for name in state.loaded if name not in keep]
        if stale:
            pipe.delete_adapters(stale)
            for name in stale:
                del state.loaded[name]
        active: list[_Wanted] = []
        for item in wanted:
            if item.adapter not in state.loaded:
                error = self._load(pipe, item)
                if error:
                    warnings_.append(error)
                    state.failed[(item.adapter, item.stamp)] = error
                    continue
                state.loaded[item.adapter] = item.stamp
            active.append(item)
        if not active:
            self._reset(loaded, state)
            return
        parts = pipe.get_list_adapters()
        weights = [self._weights(item, parts) for item in active]
        pipe.set_adapters([item.adapter for item in active], adapter_weights=weights)
        state.signature = tuple(item.key for item in active)

    @staticmethod
    def _weights(item: _Wanted, parts: Mapping[str, list[str]]) -> dict[str, float]:
        """Per-component weights: the text-encoder multiplier for both encoders, the UNet one for
        the UNet; only components the adapter has (diffusers warns about the others)."""
        weights = {"unet": item.unet, "text_encoder": item.te, "text_encoder_2": item.te}
        return {c: w for c, w in weights.items() if item.adapter in parts.get(c, ())}

    def _reset(self, loaded: LoadedCheckpoint, state: _ModelState) -> None:
        """Remove every adapter (peft layers unwrapped: the modules are the checkpoint's again)."""
        if state.loaded or _has_adapters(loaded):
            loaded.pipeline("txt2img").unload_lora_weights()
        state.loaded.clear()
        state.signature = ()

    def _load(self, pipe: Any, item: _Wanted) -> Optional[str]:
        """Load one file as an adapter; the warning text on failure (nothing is left behind)."""
        name = item.info.name
        try:
            state = self._read(item)
        except RefusedPickleError as exc:
            return f"LoRA {name} cannot be read: {exc}"
        except Exception as exc:
            return f"LoRA {name} cannot be read: {type(exc).__name__}: {exc}"
        variant = unsupported_format(list(state))
        if variant:
            return f"LoRA {name}: LyCORIS {variant} networks are not supported"
        device = pipe.unet.device
        tensors = {k: v.to(device) for k, v in state.items()}
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*peft_config.*")
                pipe.load_lora_weights(tensors, adapter_name=item.adapter)
        except Exception as exc:
            if any(item.adapter in names for names in pipe.get_list_adapters().values()):
                pipe.delete_adapters([item.adapter])
            log.info("LoRA %s does not fit: %s", name, exc)
            reason = (str(exc).splitlines() or [""])[0][:120]
            return f"LoRA {name} does not fit this checkpoint: skipped ({type(exc).__name__}: {reason})"
        return None

    def _read(self, item: _Wanted) -> dict[str, torch.Tensor]:
        key = ("lora-file", str(item.info.path), item.stamp)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return cached
        state = prepare_state_dict(read_lora_file(item.info.path))
        self.stats.files_read += 1
        if self.cache is not None:
            self.cache.put(key, state, sum(t.numel() * t.element_size() for t in state.values()))
        return state


def _has_adapters(loaded: LoadedCheckpoint) -> bool:
    return any(hasattr(m, "peft_config") for m in loaded.modules())
