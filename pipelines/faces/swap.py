"""Face swap requests and results, and choosing which target faces a swap touches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
from PIL import Image

from pipelines.faces.classic import Blend
from pipelines.faces.errors import FaceError
from pipelines.faces.masks import MaskOptions
from pipelines.faces.types import DetectedFace

Method = Literal["auto", "inswapper", "classic"]
METHODS = ("auto", "inswapper", "classic")
Targets = Union[Sequence[int], Literal["all"]]
REFERENCE_THRESHOLDS = {"arcface": 0.6, "dlib": 0.07}
"""Reference mode: the cosine distance (1 - similarity) under which a face counts as the same
person, per embedding family. Their scales differ: ArcFace puts different people ~0.7-1.0 apart,
dlib's 128-d vectors put them only 0.12-0.22 apart (same person 0.03-0.04 on the real photo set;
dlib's own 0.6 Euclidean threshold is ~0.09 in cosine terms), so one number cannot serve both."""
DEFAULT_THRESHOLD = REFERENCE_THRESHOLDS["arcface"]


def reference_threshold(embedding_model: Optional[str], threshold: Optional[float] = None) -> float:
    """``threshold`` when one is given, else the calibrated one of ``embedding_model``'s family."""
    if threshold is not None:
        return threshold
    family = (embedding_model or "arcface").split("/")[0]
    return REFERENCE_THRESHOLDS.get(family, DEFAULT_THRESHOLD)


@dataclass(frozen=True)
class SwapOptions:
    """Everything about a swap except the source: reusable across the frames of a video."""

    target_faces: Targets = (0,)
    reference: Optional[np.ndarray] = None
    """Normalised embedding of a reference face: only targets closer than ``threshold`` are swapped."""
    threshold: Optional[float] = None
    """None: the embedding model's calibrated threshold (:data:`REFERENCE_THRESHOLDS`)."""
    gender: Optional[Literal["M", "F"]] = None
    mask: MaskOptions = field(default_factory=MaskOptions)
    blend: Blend = "multiband"
    restore: Optional[str] = None
    restore_weight: float = 1.0
    order: str = "left-right"


@dataclass(frozen=True)
class PreparedSource:
    """A source identity, ready to swap into any number of images without re-detecting it."""

    method: Literal["inswapper", "classic", "trained"]
    label: str
    identity: Optional[np.ndarray] = None
    """ArcFace embedding (inswapper)."""
    rgb: Optional[np.ndarray] = None
    landmarks68: Optional[np.ndarray] = None
    """Source pixels and 68 landmarks (classic)."""
    embedding_model: Optional[str] = None
    trained: Any = None
    """A trained face model's swapper (``trained model: <name>``; it holds the source person)."""


@dataclass
class SwapResult:
    image: Image.Image
    info: str
    method: str
    swapped: list[int]
    faces: list[DetectedFace]


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine distance between two identity embeddings (0 = same direction)."""
    return float(1.0 - np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def parse_targets(text: str) -> Targets:
    """``"0, 2"`` → [0, 2]; ``"all"`` → "all" (how people type target face indices)."""
    text = (text or "").strip().lower()
    if text in ("all", "*"):
        return "all"
    try:
        indices = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise FaceError(f"Face indices {text!r}: use numbers separated by commas (0 = first face) or 'all'.") from None
    if not indices or min(indices) < 0:
        raise FaceError("Face indices: give at least one index of 0 or more, or 'all'.")
    return indices


Selector = Literal["indices", "many", "one", "reference"]
SELECTORS = ("indices", "many", "one", "reference")
"""FaceFusion's face selector modes (``many``: every face, ``one``: the first in the face order,
``reference``: every face close to the reference face), plus ``indices``: the numbers given."""


def selected_targets(selector: str, indices: Targets, has_reference: bool) -> Targets:
    """The target faces a selector mode means (reference mode needs a reference face)."""
    if selector not in SELECTORS:
        raise FaceError(f"unknown face selector {selector!r}; use one of {', '.join(SELECTORS)}")
    if selector == "reference" and not has_reference:
        raise FaceError("The reference selector needs a reference face (image or face model).")
    if selector in ("many", "reference"):
        return "all"
    return [0] if selector == "one" else indices


def pick_index(faces: list[DetectedFace], index: int, which: str) -> DetectedFace:
    if not 0 <= index < len(faces):
        raise FaceError(f"{which.capitalize()} face index {index} is out of range: the {which} image has "
                        f"{len(faces)} face{'s' if len(faces) != 1 else ''} (0..{len(faces) - 1}).")
    return faces[index]


def select_targets(faces: list[DetectedFace], options: SwapOptions) -> tuple[list[int], list[str]]:
    """Indices of the faces to swap, and a note per face that a filter skipped."""
    if options.target_faces == "all":
        chosen = list(range(len(faces)))
    else:
        chosen = [int(i) for i in options.target_faces]
        for i in chosen:
            pick_index(faces, i, "target")
    notes = []
    kept = []
    for i in dict.fromkeys(chosen):
        face = faces[i]
        if options.gender and face.gender is None:
            raise FaceError("The gender filter needs a gender/age model (genderage.onnx) in the insightface pack.")
        if options.gender and face.gender != options.gender:
            notes.append(f"face {i} skipped (gender {face.gender})")
            continue
        if options.reference is not None:
            if face.embedding is None or face.embedding.shape != options.reference.shape:
                raise FaceError("Reference face and target faces were embedded by different models.")
            d = distance(face.embedding, options.reference)
            limit = reference_threshold(face.embedding_model, options.threshold)
            if d > limit:
                notes.append(f"face {i} skipped (distance {d:.3f} > {limit:g})")
                continue
        kept.append(i)
    return kept, notes
