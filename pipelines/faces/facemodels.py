"""Saved face models: one identity blended from several faces, stored as ``models/faces/<name>.safetensors``.

The file holds ``embedding`` (the re-normalised mean of the faces' normalised embeddings), like
ReActor's face models, plus metadata naming the embedding model, so a 512-d ArcFace identity is
never mixed with a 128-d dlib one. A face model is a swap source for inswapper and a reference
identity for reference-face mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.faces.errors import FaceError
from pipelines.faces.types import DetectedFace
from pipelines.fileio import atomic_open

_NAME = re.compile(r"^[\w][\w .-]{0,79}$")


@dataclass(frozen=True)
class FaceModel:
    name: str
    embedding: np.ndarray
    embedding_model: str
    count: int


def blend(name: str, faces: list[DetectedFace]) -> FaceModel:
    """One identity from ``faces`` (all embedded by the same model)."""
    if not faces:
        raise FaceError("A face model needs at least one face.")
    models = {f.embedding_model for f in faces}
    if None in models or any(f.embedding is None for f in faces):
        raise FaceError("Every face of a face model needs an identity embedding.")
    if len(models) > 1:
        raise FaceError(f"Faces embedded by different models cannot be blended: {', '.join(sorted(models))}")
    mean = np.mean([f.embedding / np.linalg.norm(f.embedding) for f in faces], axis=0)
    return FaceModel(name, (mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32), models.pop(), len(faces))


def check_name(name: str) -> str:
    name = name.strip().removesuffix(".safetensors")
    if not _NAME.match(name):
        raise FaceError(f"Face model name {name!r}: use letters, digits, spaces, '.', '-' or '_' (at most 80).")
    return name


def save(folder: Path, model: FaceModel) -> Path:
    from safetensors.numpy import save

    path = folder / f"{check_name(model.name)}.safetensors"
    data = save({"embedding": model.embedding}, metadata={"embedding_model": model.embedding_model,
                                                          "count": str(model.count), "format": "atelier-face-model"})
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return path


def load(folder: Path, name: str) -> FaceModel:
    """A saved face model (also ReActor's, which store an ``embedding`` tensor)."""
    from safetensors import safe_open

    path = folder / f"{check_name(name)}.safetensors"
    if not path.is_file():
        raise FaceError(f"Face model {name!r} not found in {folder}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            meta = handle.metadata() or {}
            embedding = handle.get_tensor("embedding").astype(np.float32).ravel()
    except Exception as exc:  # a damaged or foreign file: say so instead of a traceback
        raise FaceError(f"Face model {path.name} is not readable: {exc}") from exc
    default_model = "arcface/w600k_r50" if embedding.size == 512 else "dlib/resnet-128"
    embedding = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    return FaceModel(name, embedding, meta.get("embedding_model", default_model), int(meta.get("count", "1")))


def names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.safetensors")) if folder.is_dir() else []
