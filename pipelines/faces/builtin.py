"""The built-in face backend: models that ship inside registry packages, no downloads.

dlib's HOG detector (``dlib-bin`` wheel) finds faces, the 68-point shape predictor and the
128-d ResNet embedder come from ``face-recognition-models``. That package's ``__init__``
imports ``pkg_resources`` (gone here), so its ``models/`` folder is located without importing it.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.faces.align import kps5_from_68
from pipelines.faces.errors import FaceError
from pipelines.faces.loaded import LoadedFaceModels
from pipelines.faces.types import Box, DetectedFace

DETECTOR = "dlib-hog"
EMBEDDING_MODEL = "dlib/resnet-128"
DETECT_MAX_SIDE = 1280
"""Bigger images are downscaled for the HOG pass only; landmarks run at full size."""
HOG_WINDOW = 80
"""dlib's HOG detector sees faces of about this many pixels and more."""
UPSAMPLED_MARGIN = 0.2
"""Extra HOG margin a face found only on the upsampled image needs."""
FINE_SIDE = 1000
"""The HOG window is 80 px: images whose long side is under this are searched upsampled once
(twice under half of it), so a face of 40 px (20 px) is still found."""


def face_models_folder() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceError("The built-in face backend needs the face-recognition-models package (pip install --no-deps "
                        "face-recognition-models==0.3.0).")
    return Path(spec.origin).parent / "models"


def _score(margin: float) -> float:
    """The HOG margin squashed to 0..1, so every backend's score and threshold read the same way."""
    return 1.0 / (1.0 + math.exp(-2.0 * margin))


def _overlap(a: Box, b: Box) -> bool:
    """Whether two boxes are one face (centres closer than half the smaller box)."""
    ax, ay, bx, by = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    return abs(ax - bx) + abs(ay - by) < 0.5 * min(a[2] - a[0], b[2] - b[0])


def _rect(box: Box) -> Any:
    import dlib

    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return dlib.rectangle(x1, y1, x2, y2)


class BuiltinBackend:
    """Detect, 68 landmarks and identity embeddings with dlib."""

    name = DETECTOR
    embedding_model = EMBEDDING_MODEL

    def __init__(self, models: LoadedFaceModels) -> None:
        self.models = models
        self.folder = face_models_folder()

    @functools.cached_property
    def _hog(self) -> Any:
        """dlib's HOG detector: building it takes ~2 s, so once per backend, not per image."""
        import dlib

        return dlib.get_frontal_face_detector()

    def _predictor(self) -> Any:
        import dlib

        return self.models.get("dlib-shape68", self.folder / "shape_predictor_68_face_landmarks.dat",
                               lambda p: dlib.shape_predictor(str(p)))

    def _embedder(self) -> Any:
        import dlib

        return self.models.get("dlib-resnet", self.folder / "dlib_face_recognition_resnet_model_v1.dat",
                               lambda p: dlib.face_recognition_model_v1(str(p)))

    def boxes(self, rgb: np.ndarray, min_margin: float = 0.0) -> list[tuple[Box, float]]:
        """HOG detections (box in full-image pixels, HOG margin).

        One pass at the working size, plus, on small images, an upsampled pass that keeps only
        faces too small for the first, with a higher margin: upsampled HOG fires on texture (the
        astronaut's suit patch, margin 0.09-0.12) where the plain pass does not.
        """
        import cv2

        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        small = np.ascontiguousarray(small)
        side = max(small.shape[:2])
        found = self._pass(small, 0, min_margin, scale, np.inf)
        upsample = 2 if side < FINE_SIDE / 2 else 1 if side < FINE_SIDE else 0
        if upsample:
            fresh = self._pass(small, upsample, min_margin + UPSAMPLED_MARGIN, scale, HOG_WINDOW / scale)
            found += [f for f in fresh if not any(_overlap(f[0], g[0]) for g in found)]
        return found

    def _pass(self, small: np.ndarray, upsample: int, min_margin: float, scale: float,
              max_width: float) -> list[tuple[Box, float]]:
        rects, scores, _ = self._hog.run(small, upsample, min_margin)
        found = []
        for rect, score in zip(rects, scores):
            box = (max(rect.left(), 0) / scale, max(rect.top(), 0) / scale,
                   min(rect.right(), small.shape[1] - 1) / scale, min(rect.bottom(), small.shape[0] - 1) / scale)
            if box[2] - box[0] <= max_width:
                found.append((box, float(score)))
        return found

    def landmarks68(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """The 68 dlib landmarks of the face in ``box`` (any detector's box works)."""
        shape = self._predictor()(rgb, _rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def embed(self, rgb: np.ndarray, box: Box, normalise: bool = True) -> np.ndarray:
        """L2-normalised 128-d dlib identity embedding; ``normalise=False`` gives dlib's raw
        descriptor, whose Euclidean distances are on dlib's own scale (same person < 0.6)."""
        shape = self._predictor()(np.ascontiguousarray(rgb), _rect(box))
        vector = np.asarray(self._embedder().compute_face_descriptor(np.ascontiguousarray(rgb), shape), np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12) if normalise else vector

    def detect(self, rgb: np.ndarray, min_score: float = 0.5, embed: bool = True) -> list[DetectedFace]:
        """Faces whose score (logistic of the HOG margin, 0.5 = margin 0) reaches ``min_score``."""
        rgb = np.ascontiguousarray(rgb)
        p = min(max(min_score, 1e-6), 1 - 1e-6)
        faces = []
        for box, margin in self.boxes(rgb, 0.5 * math.log(p / (1 - p))):
            points = self.landmarks68(rgb, box)
            faces.append(DetectedFace(
                box=box,
                score=_score(margin),
                kps5=kps5_from_68(points),
                landmarks=points,
                embedding=self.embed(rgb, box) if embed else None,
                embedding_model=EMBEDDING_MODEL if embed else None,
                detector=DETECTOR,
                extra={"hog_margin": margin},
            ))
        return faces
