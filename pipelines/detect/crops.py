"""Square face crops with a detector's margin, kept inside the picture."""

from __future__ import annotations

import numpy as np

from pipelines.faces.types import Box

PixelBox = tuple[int, int, int, int]


def square_crop_box(box: Box, scale: float, width: int, height: int) -> PixelBox:
    """A square of side ``scale`` × the box's longer side around its centre, shifted (then, if
    still too big, shrunk) to lie inside a ``width`` × ``height`` picture; x0, y0, x1, y1."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 1.0) * scale
    side = int(round(min(side, width, height)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return left, top, left + side, top + side


def crop(image: np.ndarray, box: PixelBox) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(image[y0:y1, x0:x1])
