"""The model catalog: what is in the user's ``models/`` folder, identified and hashed.

Folder names follow AUTOMATIC1111, so ``--models-dir`` can point at an A1111 install. A file
that cannot be used never stops a scan: it is listed with the reason instead.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from pipelines.models.architecture import Architecture, UnsupportedModelError
from pipelines.models.hashing import HashCache, legacy_model_hash, short_hash

CHECKPOINT_DIR = "Stable-diffusion"
VAE_DIR = "VAE"
CHECKPOINT_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth")
VAE_EXTENSIONS = (".safetensors", ".ckpt", ".pt")


class UnknownModelError(LookupError):
    """A model name that matches nothing in the catalog; the message lists what exists."""


def _relative_name(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def find_model_files(root: Path, extensions: Sequence[str], *, broken: bool = False) -> list[Path]:
    """Model files below ``root`` (recursive, A1111 order), skipping hidden files and the
    contents of ``<name>.config/`` sidecar folders. With ``broken``, entries that only look like
    model files (folders named ``*.safetensors``, dangling links) are listed too, so catalogs can
    show them with :func:`entry_problem`'s reason."""
    if not root.is_dir():
        return []
    found = [
        p for p in root.rglob("*")
        if p.suffix.lower() in extensions and not p.name.startswith(".")
        and not any(part.endswith(".config") for part in p.relative_to(root).parts[:-1])
        and (p.is_file() or (broken and (p.is_dir() or p.is_symlink())))
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix().lower())


def entry_problem(path: Path) -> Optional[str]:
    """Why ``path`` cannot be a model file (a folder, a dangling link, an empty file); None
    for a regular file with content."""
    if path.is_symlink() and not path.exists():
        return f"{path.name} is a symbolic link to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return f"{path.name} is a folder, not a model file"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"{path.name} cannot be read: {exc.strerror or exc}"
    if size == 0:
        return f"{path.name} is an empty file (0 bytes): the download or copy did not finish"
    return None


@dataclass
class CheckpointInfo:
    """One checkpoint file and everything known about it without loading it."""

    path: Path
    name: str
    architecture: Optional[Architecture] = None
    error: Optional[str] = None
    legacy_hash: Optional[str] = None
    sha256: Optional[str] = None
    config_dir: Optional[Path] = None
    yaml_path: Optional[Path] = None

    @property
    def model_name(self) -> str:
        """A1111's ``model_name``: the relative path without extension, folders joined by ``_``."""
        return Path(self.name).with_suffix("").as_posix().replace("/", "_")

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def shorthash(self) -> Optional[str]:
        return short_hash(self.sha256) if self.sha256 else None

    @property
    def title(self) -> str:
        """A1111's title: ``name [hash10]`` once the hash is known."""
        return f"{self.name} [{self.shorthash}]" if self.sha256 else self.name

    @property
    def usable(self) -> bool:
        return self.error is None and self.architecture is not None

    def matches(self, query: str) -> bool:
        """True when ``query`` is any name A1111 clients use for a checkpoint."""
        query = query.strip()
        candidates = {self.title, self.name, self.model_name, self.stem, str(self.path), self.path.name}
        if self.sha256:
            candidates |= {self.sha256, self.shorthash}
        if self.legacy_hash:
            candidates.add(self.legacy_hash)
        if query in candidates:
            return True
        # "name [hash]" with a stale or legacy hash still names this file
        if query.endswith("]") and " [" in query:
            return query.rsplit(" [", 1)[0] in (self.name, self.model_name)
        return False


@dataclass
class VaeInfo:
    """One VAE file from ``models/VAE``; ``error`` says why it cannot be used."""

    path: Path
    name: str
    label: str = "SD VAE"
    error: Optional[str] = None

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def usable(self) -> bool:
        return self.error is None

    def matches(self, query: str) -> bool:
        return query.strip() in {self.name, self.path.name, self.path.stem, str(self.path)}


Identifier = Callable[[Path, Optional[Path]], Architecture]


def _default_identifier(path: Path, yaml_path: Optional[Path]) -> Architecture:
    from pipelines.models.identify import identify_file

    return identify_file(path, yaml_path)


@dataclass
class ModelCatalog:
    """Scans the models folder; finds checkpoints and VAEs by any of their A1111 names."""

    models_dir: Path
    hash_cache: HashCache
    identifier: Identifier = _default_identifier
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    vaes: list[VaeInfo] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # How a load gets a missing hash; the model library points it at its background hasher
    # (BackgroundHasher.hash_first) so the file being loaded goes before every queued one.
    hash_now: Optional[Callable[[Path], str]] = field(default=None, repr=False)

    @property
    def checkpoint_dir(self) -> Path:
        return self.models_dir / CHECKPOINT_DIR

    @property
    def vae_dir(self) -> Path:
        return self.models_dir / VAE_DIR

    def refresh(self, *, hash_missing: bool = True) -> None:
        """Rescan the folders. Known hashes come from the cache; missing ones are computed
        now when ``hash_missing`` (else later by :meth:`hash_all` or at load time)."""
        checkpoints = [self._describe(path)
                       for path in find_model_files(self.checkpoint_dir, CHECKPOINT_EXTENSIONS, broken=True)]
        vaes = [describe_vae(path, _relative_name(path, self.vae_dir))
                for path in find_model_files(self.vae_dir, VAE_EXTENSIONS, broken=True)]
        with self._lock:
            self.checkpoints, self.vaes = checkpoints, vaes
        if hash_missing:
            self.hash_all()

    def hash_all(self) -> None:
        """Compute every missing sha256 (slow for big files: run it off the request path)."""
        for info in list(self.checkpoints):
            if info.sha256 is None and info.error is None:
                self.ensure_hash(info)

    def ensure_hash(self, info: CheckpointInfo) -> str:
        """The checkpoint's sha256, computing and caching it if needed."""
        if info.sha256 is None:
            info.sha256 = (self.hash_now or self.hash_cache.sha256)(info.path)
        return info.sha256

    def _describe(self, path: Path) -> CheckpointInfo:
        info = CheckpointInfo(path=path, name=_relative_name(path, self.checkpoint_dir))
        sidecar = path.with_suffix(".config")
        info.config_dir = sidecar if sidecar.is_dir() else None
        yaml_path = path.with_suffix(".yaml")
        info.yaml_path = yaml_path if yaml_path.is_file() else None
        info.error = entry_problem(path)
        if info.error:
            return info
        try:
            info.architecture = self.identifier(path, info.yaml_path)
            info.legacy_hash = legacy_model_hash(path)
            info.sha256 = self.hash_cache.cached(path)
        except UnsupportedModelError as exc:
            info.error = str(exc)
        except Exception as exc:  # a broken file must never stop the scan
            info.error = f"cannot read {path.name}: {exc}"
        return info

    def usable_checkpoints(self) -> list[CheckpointInfo]:
        return [info for info in self.checkpoints if info.usable]

    def find_checkpoint(self, query: str) -> CheckpointInfo:
        """Look a checkpoint up by title, name, model name, file name, path or hash."""
        return _find(query, self.checkpoints, "checkpoint", self.checkpoint_dir, lambda i: i.title)

    def find_vae(self, query: str) -> VaeInfo:
        return _find(query, self.vaes, "VAE", self.vae_dir, lambda i: i.name)

    def usable_vaes(self) -> list[VaeInfo]:
        return [vae for vae in self.vaes if vae.usable]


SD_LATENT_CHANNELS = 4


def describe_vae(path: Path, name: str) -> VaeInfo:
    """A VAE file's entry, checked from tensor shapes only (an SD/SDXL VAE decodes 4 latent
    channels), so a file that cannot load is listed with the reason instead of offered."""
    from pipelines.models.identify import SAFETENSORS_SUFFIXES, pickle_shapes, safetensors_shapes

    info = VaeInfo(path, name, "-", entry_problem(path))
    if info.error:
        return info
    try:
        shapes = safetensors_shapes(path) if path.suffix.lower() in SAFETENSORS_SUFFIXES else pickle_shapes(path)
    except Exception as exc:  # a broken file is listed with the reason
        info.error = str(exc) if path.name in str(exc) else f"cannot read {path.name}: {exc}"
        return info
    conv_in = next((shape for key, shape in shapes.items() if key.endswith("decoder.conv_in.weight")), None)
    if conv_in is None or len(conv_in) != 4:
        info.error = "not a VAE: no decoder.conv_in weight"
    elif conv_in[1] != SD_LATENT_CHANNELS:
        info.error = f"a VAE for {conv_in[1]}-channel latents; Stable Diffusion 1/2/XL use {SD_LATENT_CHANNELS}"
    else:
        info.label = "SD VAE"
    return info


def _find(query: str, items: Iterable, kind: str, folder: Path, label: Callable) -> object:
    items = list(items)
    for item in items:
        if item.matches(query):
            return item
    names = ", ".join(label(i) for i in items) or "none"
    raise UnknownModelError(f"unknown {kind} {query!r}; available in {folder}: {names}")


def empty_folder_hint(models_dir: Path) -> str:
    """What to tell a user who has no checkpoint yet."""
    return (
        f"No Stable Diffusion checkpoint found. Put a .safetensors checkpoint (SD 1.x, SD 2.x or SDXL) in "
        f"{models_dir / CHECKPOINT_DIR}, or start Atelier with --models-dir pointing at an existing "
        f"AUTOMATIC1111 'models' folder, then press refresh."
    )
