"""Detected faces drawn on an image: numbered boxes and landmarks (for the Faces and Detect tabs)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from pipelines.faces.types import DetectedFace


def draw_faces(image: Image.Image, faces: list[DetectedFace]) -> Image.Image:
    """A copy of ``image`` with each face's box, landmarks and index (its number in swaps)."""
    canvas = np.array(image.convert("RGB"))
    thick = max(1, round(max(canvas.shape[:2]) / 500))
    for i, face in enumerate(faces):
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 255, 0), thick)
        points = face.landmarks if face.landmarks is not None else face.kps5
        for x, y in np.round(points).astype(int):
            cv2.circle(canvas, (int(x), int(y)), thick, (255, 64, 64), -1)
        cv2.putText(canvas, str(i), (x1 + 2, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick + 0.2,
                    (255, 255, 0), thick, cv2.LINE_AA)
    return Image.fromarray(canvas)
