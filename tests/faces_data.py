"""Real face photos that ship inside installed wheels (no downloads), for face tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
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


@pytest.fixture(scope="module")
def builtin_faces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A FaceEngine over an empty models folder (the built-in backend), one per test module."""
    from pipelines.context import AppConfig, AtelierContext

    root = tmp_path_factory.mktemp("faces")
    context = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    yield context.faces
    context.close()
