"""What every face detector returns: the one shape shared by Faces, Detect and the API.

Coordinates are pixels of the image given to the detector. ``kps5`` are the five alignment
points in insightface's order (left eye, right eye, nose tip, left mouth corner, right mouth
corner — "left" as seen in the image); every detector fills them, so alignment, swapping and
detector crops work the same whichever backend found the face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in pixels."""

FaceOrder = Literal["left-right", "right-left", "top-bottom", "bottom-top", "small-large", "large-small",
                    "best-worst", "worst-best", "size", "score"]
"""FaceFusion's eight orders; ``size`` (= large-small) and ``score`` (= best-worst) are older names."""


@dataclass(frozen=True)
class DetectedFace:
    """One face found in an image."""

    box: Box
    score: float
    kps5: np.ndarray
    """(5, 2) float32: eyes, nose, mouth corners (insightface order)."""
    landmarks: Optional[np.ndarray] = None
    """(N, 2) float32 dense landmarks when the backend has them (N = 68 or 106)."""
    embedding: Optional[np.ndarray] = None
    """L2-normalised identity embedding (512-d arcface or 128-d dlib)."""
    embedding_model: Optional[str] = None
    age: Optional[int] = None
    gender: Optional[Literal["M", "F"]] = None
    detector: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2
