"""One aligned face: a PNG whose ``atelier-dfl`` text chunk holds what DeepFaceLab keeps in its DFLIMG.

The chunk is JSON (never pickle): face type, crop size, the source frame's file and size, the
frame→crop matrix, the landmarks in crop and frame coordinates and the hull-mask polygon. So a
faceset can be sorted, renamed, pruned or copied elsewhere and every face still knows where it
came from and how to mask it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image, PngImagePlugin

from pipelines.dfl.facetype import FaceType, hull_mask, parts_mask
from pipelines.fileio import atomic_open

CHUNK = "atelier-dfl"
SCHEMA = "atelier.dfl.aligned/1"


class AlignedError(ValueError):
    """A file in a faceset is not an aligned face (no or bad ``atelier-dfl`` chunk)."""


@dataclass
class AlignedMeta:
    face_type: FaceType
    size: int
    source_file: str
    source_size: tuple[int, int]
    """Width, height of the source frame."""
    face_index: int
    matrix: list[list[float]]
    """2x3 frame → crop."""
    landmarks: list[list[float]]
    """In crop pixels (68 points, or 5)."""
    source_landmarks: list[list[float]]
    hull: list[list[float]]
    """Hull-mask polygon in crop pixels."""
    box: list[float] = field(default_factory=list)
    detector: str = ""
    schema: str = SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "AlignedMeta":
        data = json.loads(text)
        if data.get("schema") != SCHEMA:
            raise AlignedError(f"unknown aligned-face schema {data.get('schema')!r}")
        data["source_size"] = tuple(data["source_size"])
        return cls(**data)

    def matrix_array(self) -> np.ndarray:
        return np.asarray(self.matrix, np.float64)

    def landmarks_array(self) -> np.ndarray:
        return np.asarray(self.landmarks, np.float32)

    def source_landmarks_array(self) -> np.ndarray:
        return np.asarray(self.source_landmarks, np.float32)

    def mask(self, size: Optional[int] = None) -> np.ndarray:
        """The hull mask at ``size`` (default: the crop size)."""
        size = size or self.size
        return hull_mask(np.asarray(self.hull, np.float32) * (size / self.size), size)

    def parts(self, size: Optional[int] = None) -> Optional[np.ndarray]:
        size = size or self.size
        return parts_mask(self.landmarks_array() * (size / self.size), size)


def _rounded(array: np.ndarray, digits: int = 3) -> list[list[float]]:
    return np.round(np.asarray(array, np.float64), digits).tolist()


def make_meta(face_type: FaceType, size: int, source_file: str, source_size: tuple[int, int], face_index: int,
              matrix: np.ndarray, landmarks: np.ndarray, source_landmarks: np.ndarray, hull: np.ndarray,
              box: Any = (), detector: str = "") -> AlignedMeta:
    return AlignedMeta(face_type=face_type, size=size, source_file=source_file, source_size=tuple(source_size),
                       face_index=face_index, matrix=_rounded(matrix, 6), landmarks=_rounded(landmarks),
                       source_landmarks=_rounded(source_landmarks), hull=_rounded(hull),
                       box=[round(float(v), 2) for v in box], detector=detector)


def save_aligned(path: Path, rgb: np.ndarray, meta: AlignedMeta) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(CHUNK, meta.to_json())
    with atomic_open(path, "wb") as handle:
        Image.fromarray(rgb).save(handle, format="PNG", pnginfo=info, compress_level=3)
    return path


def read_meta(path: Path) -> AlignedMeta:
    """Only the chunk (the pixels are not decoded)."""
    try:
        with Image.open(path) as image:
            text = image.info.get(CHUNK) or (image.text.get(CHUNK) if hasattr(image, "text") else None)
    except OSError as exc:
        raise AlignedError(f"{Path(path).name}: not a readable picture ({exc})") from exc
    if not text:
        raise AlignedError(f"{Path(path).name}: not an aligned face (no {CHUNK} chunk): extract the faceset again")
    return AlignedMeta.from_json(text)


def read_aligned(path: Path) -> tuple[np.ndarray, AlignedMeta]:
    meta = read_meta(path)
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")), meta


def aligned_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.is_dir() else []
