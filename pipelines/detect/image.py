"""Score a picture with a learned detector: each face's P(fake), its Grad-CAM, and a verdict.

Faces come from the Faces engine; each is cropped square with the detector's own margin (the
margin it was trained with matters as much as the weights). A picture without a face is scored
whole, and the report says so, because face detectors were not trained on such inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
from PIL import Image

from pipelines.detect.crops import PixelBox, crop, square_crop_box
from pipelines.detect.detector import Detector, verdict_text
from pipelines.detect.gradcam import overlay
from pipelines.faces.types import Box, DetectedFace

if TYPE_CHECKING:
    from pipelines.context import AtelierContext


@dataclass
class FaceScore:
    """One scored region: a face (or the whole picture when none was found)."""

    box: Box
    crop_box: PixelBox
    fake_score: float
    heatmap: Optional[Image.Image] = None
    """Grad-CAM over the crop that was scored."""
    whole_image: bool = False

    def to_json(self, detector: str) -> dict[str, Any]:
        return {"box": [round(float(v), 1) for v in self.box], "fake_score": round(self.fake_score, 6),
                "detector": detector, "whole_image": self.whole_image}


@dataclass
class ImageReport:
    """Per-face scores and the verdict for one picture."""

    detector: str
    threshold: float
    faces: list[FaceScore] = field(default_factory=list)

    @property
    def whole_image(self) -> bool:
        return any(f.whole_image for f in self.faces)

    @property
    def max_score(self) -> float:
        return max((f.fake_score for f in self.faces), default=0.0)

    @property
    def verdict(self) -> str:
        basis = "whole picture, no face found" if self.whole_image else f"{len(self.faces)} face(s), highest P(fake)"
        return verdict_text(self.max_score, self.threshold, basis, self.detector)

    def to_json(self) -> dict[str, Any]:
        return {"detector": self.detector, "threshold": self.threshold, "max_fake_score": round(self.max_score, 6),
                "fake": self.max_score >= self.threshold, "whole_image": self.whole_image, "verdict": self.verdict,
                "faces": [f.to_json(self.detector) for f in self.faces]}


def face_crop_boxes(detector: Detector, image: np.ndarray, boxes: Sequence[Box]) -> list[PixelBox]:
    h, w = image.shape[:2]
    return [square_crop_box(b, detector.spec.crop_scale, w, h) for b in boxes]


def score_regions(detector: Detector, image: np.ndarray, boxes: Sequence[Box], crop_boxes: Sequence[PixelBox],
                  heatmaps: bool = True, whole_image: bool = False) -> list[FaceScore]:
    """Score the crops of one picture in one batch (with Grad-CAM overlays when asked)."""
    if not boxes:
        return []
    crops = [crop(image, cb) for cb in crop_boxes]
    if heatmaps:
        scores, heat = detector.explain(crops)
        pictures: list[Optional[Image.Image]] = [overlay(c, m) for c, m in zip(crops, heat)]
    else:
        scores, pictures = detector.probabilities(crops), [None] * len(crops)
    return [FaceScore(tuple(map(float, b)), cb, float(s), p, whole_image)
            for b, cb, s, p in zip(boxes, crop_boxes, scores, pictures)]


def score_image(detector: Detector, image: np.ndarray, faces: Sequence[DetectedFace], heatmaps: bool = True,
                threshold: Optional[float] = None) -> ImageReport:
    """Score every face, or the whole picture (flagged) when ``faces`` is empty."""
    report = ImageReport(detector.name, detector.spec.threshold if threshold is None else threshold)
    if faces:
        boxes = [f.box for f in faces]
        report.faces = score_regions(detector, image, boxes, face_crop_boxes(detector, image, boxes), heatmaps)
    else:
        h, w = image.shape[:2]
        report.faces = score_regions(detector, image, [(0.0, 0.0, float(w), float(h))], [(0, 0, w, h)], heatmaps,
                                     whole_image=True)
    return report


def analyse_image(ctx: "AtelierContext", image: Any, detector_name: str, heatmaps: bool = True,
                  threshold: Optional[float] = None) -> ImageReport:
    """Faces engine → crops → the named detector from ``models/detectors/``."""
    from pipelines.faces.engine import to_rgb

    rgb = to_rgb(image)
    detector = ctx.detectors.load(detector_name)
    faces = ctx.faces.detect(rgb, embed=False)
    return score_image(detector, rgb, faces, heatmaps, threshold)
