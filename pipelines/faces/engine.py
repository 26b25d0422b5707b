"""FaceEngine: the one entry point for face detection and swapping (``ctx.faces``).

Created lazily by the context and cheap until used: models load on first use, into the shared
model cache. The backend is insightface when a pack exists under ``models/insightface/models/``,
else the built-in dlib models.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Union

import numpy as np
from PIL import Image

from pipelines.device import DevicePolicy
from pipelines.faces.builtin import BuiltinBackend
from pipelines.faces.errors import FaceError
from pipelines.faces.insight import InsightBackend
from pipelines.faces.layout import FaceModelLayout
from pipelines.faces.loaded import LoadedFaceModels
from pipelines.faces.order import order_faces
from pipelines.faces.types import DetectedFace
from pipelines.models.cache import ModelCache
from pipelines.outputs import OutputWriter

ImageLike = Union[Image.Image, np.ndarray]
BackendChoice = Literal["auto", "insightface", "builtin"]


def to_rgb(image: ImageLike) -> np.ndarray:
    """An HxWx3 uint8 RGB array from a PIL image (any mode) or an array (gray, RGB or RGBA)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise FaceError(f"expected an RGB image, got an array of shape {array.shape}")
    return np.ascontiguousarray(array[..., :3].astype(np.uint8, copy=False))


class FaceEngine:
    """Detect faces and swap them; every model comes from the models folder, nothing is downloaded."""

    def __init__(self, models_dir: Path, cache: ModelCache, policy: DevicePolicy, writer: OutputWriter) -> None:
        self.layout = FaceModelLayout(models_dir)
        self.cache = cache
        self.policy = policy
        self.writer = writer

    @functools.cached_property
    def models(self) -> LoadedFaceModels:
        return LoadedFaceModels(self.cache, self.policy.onnx_providers())

    @functools.cached_property
    def builtin(self) -> BuiltinBackend:
        return BuiltinBackend(self.models)

    def backend(self, choice: BackendChoice = "auto") -> Union[InsightBackend, BuiltinBackend]:
        """insightface when a pack is present (or asked for: then it must be), else built-in."""
        if choice == "builtin":
            return self.builtin
        pack = self.layout.require_pack() if choice == "insightface" else self.layout.pack()
        return InsightBackend(pack, self.models) if pack is not None else self.builtin

    def detect(self, image: ImageLike, order: str = "left-right", *, min_score: float = 0.5,
               embed: bool = True, backend: BackendChoice = "auto") -> list[DetectedFace]:
        """All faces in ``image`` scoring at least ``min_score`` (0..1), numbered by ``order`` (index = position)."""
        faces = self.backend(backend).detect(to_rgb(image), min_score=min_score, embed=embed)
        return order_faces(faces, order)
