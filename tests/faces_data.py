"""Real face photos that ship inside installed wheels (no downloads), for face tests."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path
from typing import Any, Iterator, Optional

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


REAL_PEOPLE_SDIST = "face_recognition-1.3.0.tar.gz"
"""The sdist (not the wheel) holds photos of two real people in ``tests/test_images``. The test
command (``launch.py test``) fetches it into ``<venv>/test-data`` with ``pip download --no-deps
--no-binary :all: face_recognition==1.3.0``; nothing of it is installed or imported."""
REAL_PEOPLE = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


def test_data_dir() -> Path:
    """Where the test command puts photo sources fetched from the registry (beside the venv's packages)."""
    return Path(sys.prefix) / "test-data"


def real_people_sdist() -> Optional[Path]:
    path = test_data_dir() / REAL_PEOPLE_SDIST
    return path if path.is_file() else None


def real_person(name: str) -> Image.Image:
    """One photo of ``REAL_PEOPLE`` read straight out of the sdist; the calling test skips when it is absent."""
    sdist = real_people_sdist()
    if sdist is None:
        pytest.skip(f"{REAL_PEOPLE_SDIST} is not in {test_data_dir()} (python launch.py test fetches it: "
                    "pip download --no-deps --no-binary :all: face_recognition==1.3.0)")
    with tarfile.open(sdist) as tar:
        data = tar.extractfile(f"face_recognition-1.3.0/tests/test_images/{name}").read()
    return Image.open(io.BytesIO(data)).convert("RGB")


def grace_hopper() -> Image.Image:
    """matplotlib's sample photo of Grace Hopper (one face, glasses, cap), 512x600."""
    import matplotlib

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


@pytest.fixture(scope="module")
def builtin_faces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A FaceEngine over an empty models folder (the built-in backend), one per test module."""
    from pipelines.context import AppConfig, AtelierContext

    root = tmp_path_factory.mktemp("faces")
    context = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    yield context.faces
    context.close()


@pytest.fixture(scope="module")
def face_ctx(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A context over the tiny checkpoints plus synthetic insightface models and a restorer (their
    detector finds bright squares), with the built-in extensions (face swap) loaded."""
    from pipelines.context import AppConfig, AtelierContext
    from tests.factory_faces import build_face_models
    from webui.server import builtin_extensions

    root = tmp_path_factory.mktemp("faceswap")
    models = root / "models"
    models.mkdir()
    (models / "Stable-diffusion").symlink_to(tiny_models_dir / "Stable-diffusion", target_is_directory=True)
    build_face_models(models)
    context = AtelierContext(AppConfig(data_dir=root / "data", models_dir=models, hash_in_background=False))
    builtin_extensions(context)  # registers the face swap script
    yield context
    context.close()
