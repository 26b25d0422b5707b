"""Test-wide setup: offline, one torch thread, temp homes for Hugging Face and Gradio."""

from __future__ import annotations

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="atelier-tests-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HOME", os.path.join(_TMP, "hf"))
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(_TMP, "gradio"))

import torch  # noqa: E402

# Two threads are ~20x slower whenever the other core is busy; tests use one.
torch.set_num_threads(1)

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

if TYPE_CHECKING:
    from pipelines.context import AtelierContext

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="the inner-loop tier: leave out e2e and slow tests (CONTRIBUTING: test tiers)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests are e2e as a whole; gpu tests skip without CUDA; ``--fast`` deselects
    e2e and slow tests."""
    cuda = torch.cuda.is_available()
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.e2e)
        if not cuda and item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
    if config.getoption("--fast"):
        left_out = [i for i in items if i.get_closest_marker("e2e") or i.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=left_out)
        items[:] = [i for i in items if not (i.get_closest_marker("e2e") or i.get_closest_marker("slow"))]


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder in A1111 layout with tiny checkpoints, a VAE and broken files."""
    from tests.factory import build_checkpoint, build_vae, write_corrupt_files
    from tests.factory_networks import build_embedding, build_kohya_lora
    from tests.factory_upscalers import random_rrdbnet, write_upscaler

    root = tmp_path_factory.mktemp("models")
    build_checkpoint(root, "sd1", "tiny-sd1", seed=0)
    build_checkpoint(root, "sd1", "tiny-sd1-b", seed=1, subdir="Stable-diffusion/more")
    build_checkpoint(root, "sd1-inpaint", "tiny-sd1-inpaint", seed=2)
    build_checkpoint(root, "sdxl", "tiny-sdxl", seed=3)
    build_checkpoint(root, "sdxl-refiner", "tiny-sdxl-refiner", seed=4)
    build_vae(root, "tiny-vae", seed=7)
    build_kohya_lora(root, "sd1", "tiny-lora", seed=5)
    build_kohya_lora(root, "sdxl", "tiny-xl-lora", seed=6)
    build_embedding(root / "embeddings", "tiny-ti", "sd1", vectors=2, seed=8, layout="emb_params")
    write_corrupt_files(root)
    write_upscaler(root / "ESRGAN", "tiny-esrgan-4x", random_rrdbnet(seed=9), layout="old")
    write_upscaler(root / "RealESRGAN", "tiny-realesrgan-x2", random_rrdbnet(upsamples=2, unshuffle=2, seed=10),
                   fmt="safetensors")
    torch.save({"not": torch.zeros(2)}, root / "ESRGAN" / "not-an-upscaler.pth")
    return root


@pytest.fixture(scope="module")
def ctx(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator["AtelierContext"]:
    """One context over the tiny models for a whole test module (models load once)."""
    from pipelines.context import AppConfig, AtelierContext

    context = AtelierContext(AppConfig(data_dir=tmp_path_factory.mktemp("data"), models_dir=tiny_models_dir,
                                       hash_in_background=False))
    yield context
    context.close()


@pytest.fixture
def make_context(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Build AtelierContexts over a models dir; each gets a fresh data dir and is closed after."""
    from pipelines.context import AppConfig, AtelierContext

    made: list[AtelierContext] = []

    def make(models_dir: Path, **config: object) -> "AtelierContext":
        data_dir = tmp_path / f"data{len(made)}"
        ctx = AtelierContext(AppConfig(data_dir=data_dir, models_dir=models_dir, hash_in_background=False, **config))
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
