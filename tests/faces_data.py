"""Real face photos that ship inside installed wheels (no downloads), for face tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image


def insightface_photo(name: str) -> Image.Image:
    """``t1.jpg`` (6 faces) or ``Tom_Hanks_54745.png`` (1 face, 112x112) from insightface's wheel."""
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None
    return Image.open(Path(spec.origin).parent / "data" / "images" / name).convert("RGB")


def astronaut() -> Image.Image:
    """scikit-image's astronaut (one face), 512x512."""
    from skimage import data

    return Image.fromarray(np.asarray(data.astronaut()))
