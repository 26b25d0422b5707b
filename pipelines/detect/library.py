"""The detectors in ``models/detectors/``: listed by file name, loaded once into the shared cache."""

from __future__ import annotations

import logging
from pathlib import Path

from pipelines.detect.detector import Detector
from pipelines.detect.loader import DETECTOR_SUFFIXES, load_network
from pipelines.device import DevicePolicy
from pipelines.models.cache import ModelCache

log = logging.getLogger(__name__)

_NOT_WEIGHTS = {".json", ".md", ".txt", ".png", ".jpg", ".yaml", ".yml"}


class DetectorLibrary:
    """Names → loaded :class:`Detector`, counted against the one model-cache budget."""

    def __init__(self, folder: Path, cache: ModelCache, policy: DevicePolicy) -> None:
        self.folder = folder
        self.cache = cache
        self.policy = policy

    def names(self) -> list[str]:
        """Weight files (the DFDC winner's carry no extension), relative to the folder."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.rglob("*")):
            suffix = path.suffix.lower()
            if path.is_file() and not path.name.startswith(".") and \
                    (suffix in DETECTOR_SUFFIXES or (suffix == "" and path.stat().st_size > 0)):
                found.append(path.relative_to(self.folder).as_posix())
        return found

    def path(self, name: str) -> Path:
        """The file called ``name`` inside the folder; never a path outside it."""
        path = (self.folder / name).resolve()
        if self.folder.resolve() not in path.parents or not path.is_file() or path.suffix.lower() in _NOT_WEIGHTS:
            known = ", ".join(self.names()) or f"none: put detector weights in {self.folder}"
            raise LookupError(f"detector {name!r} not found; available: {known}")
        return path

    def load(self, name: str) -> Detector:
        """The detector, from the cache when the file is unchanged since it was loaded."""
        path = self.path(name)
        stat = path.stat()
        sidecar = path.with_suffix(".json")
        key = ("detector", str(path), stat.st_mtime_ns, stat.st_size,
               sidecar.stat().st_mtime_ns if sidecar.is_file() else 0)
        detector = self.cache.get(key)
        if detector is None:
            model, spec = load_network(path)
            for param in model.parameters():
                param.requires_grad_(False)
            dtype = self.policy.dtype if self.policy.device.type != "cpu" else model.classifier.weight.dtype
            model.to(self.policy.device, dtype)
            detector = Detector(name, model, spec, self.policy.device, dtype)
            self.cache.put(key, detector, detector.nbytes)
            log.info("loaded detector %s (%s, %s)", name, spec.layout, spec.arch)
        return detector
