"""Rotation search: detectors trained on upright faces miss tilted ones (dlib's HOG finds 3/6 of
the group photo at 30°, 0/6 at 90°), so the image is also searched turned by a few angles, and
every face found is turned back into the original picture's coordinates.

Landmarks, five points and the box are rotated back; the identity embedding was computed on the
upright view, which is what an embedder expects, so it stays valid. Faces found at several
angles are merged (the best score wins, the upright pass on ties).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Literal, Sequence

import cv2
import numpy as np

from pipelines.faces.types import DetectedFace

RotationSearch = Literal["off", "fallback", "all"]
ROTATION_SEARCHES = ("off", "fallback", "all")
"""``off``: upright only; ``fallback``: the other angles only when upright finds no face (cheap:
one pass on ordinary photos and video frames); ``all``: every angle, merged."""
SEARCH_ANGLES = (30.0, -30.0, 60.0, -60.0, 90.0, -90.0)
"""Degrees counter-clockwise, on top of upright; an upright HOG detector tolerates about ±15-20°."""

TURNED_MIN_SCORE = 0.65
"""The detector's minimum score in the turned passes (dlib: HOG margin 0.31, on top of which its
upsampled pass adds its own 0.2): six more looks at the picture are six more chances for texture
to pass as a face (the astronaut's mission patch reached margins 0.13-0.38 turned 15-75°)."""

Detector = Callable[[np.ndarray, float], list[DetectedFace]]
"""(image, minimum score) → faces."""


def rotated(rgb: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` turned ``degrees`` counter-clockwise on a canvas grown to fit, and the 2x3 matrix original→turned."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    matrix[:, 2] += (nw / 2 - w / 2, nh / 2 - h / 2)
    turned = cv2.warpAffine(rgb, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return turned, matrix


def _points_back(points: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    return (np.asarray(points, np.float64) @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)


def turned_back(face: DetectedFace, matrix: np.ndarray, degrees: float, shape: tuple[int, ...]) -> DetectedFace:
    """``face`` found on the turned image, in the original image's coordinates."""
    inverse = cv2.invertAffineTransform(matrix)
    x1, y1, x2, y2 = face.box
    corners = _points_back(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]), inverse)
    (bx1, by1), (bx2, by2) = corners.min(0), corners.max(0)
    box = (max(float(bx1), 0.0), max(float(by1), 0.0), min(float(bx2), shape[1] - 1.0), min(float(by2), shape[0] - 1.0))
    landmarks = None if face.landmarks is None else _points_back(face.landmarks, inverse)
    return replace(face, box=box, kps5=_points_back(face.kps5, inverse), landmarks=landmarks,
                   extra={**face.extra, "rotation": degrees})


def _same_face(a: DetectedFace, b: DetectedFace) -> bool:
    (ax, ay), (bx, by) = a.center, b.center
    return abs(ax - bx) + abs(ay - by) < 0.5 * min(a.width, b.width)


def merge(found: Sequence[DetectedFace]) -> list[DetectedFace]:
    """One face per person: the best-scoring of the detections that overlap (earlier passes win ties)."""
    kept: list[DetectedFace] = []
    for face in sorted(found, key=lambda f: -f.score):
        if not any(_same_face(face, other) for other in kept):
            kept.append(face)
    return kept


def search(rgb: np.ndarray, detect: Detector, mode: RotationSearch = "fallback",
           angles: Sequence[float] = SEARCH_ANGLES) -> list[DetectedFace]:
    """Faces of ``rgb`` found by ``detect`` upright and, per ``mode``, turned by ``angles``."""
    if mode not in ROTATION_SEARCHES:
        raise ValueError(f"unknown rotation search {mode!r}; use one of {', '.join(ROTATION_SEARCHES)}")
    found = list(detect(rgb, 0.0))
    if mode == "off" or (mode == "fallback" and found):
        return found
    for degrees in angles:
        turned, matrix = rotated(rgb, degrees)
        found += [turned_back(face, matrix, degrees, rgb.shape) for face in detect(turned, TURNED_MIN_SCORE)]
    return merge(found)
