"""Atelier's tiled mark (version 2) survives what sharing does to a picture, and is not
found where it was never written (clean photos and their crops, as shipped in wheels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from pipelines.provenance import tiled_mark, watermarks
from pipelines.provenance.watermarks import apply_marks, read_atelier
from tests.sharing import SHARING, clean_crops, screenshot, wheel_photos


@pytest.fixture(scope="module")
def marked() -> Image.Image:
    photo = dict(wheel_photos())["skimage chelsea"]  # 451×300, not a multiple of the tile
    image, applied = apply_marks(photo, sdxl=False)
    assert applied == ("atelier-2",)
    return image


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.e2e) if "h264" in n else n for n in SHARING])
def test_mark_survives_sharing(marked: Image.Image, name: str) -> None:
    reading = read_atelier(SHARING[name](marked))
    assert reading.found and reading.version == 2, reading.detail


@pytest.mark.parametrize("factor", [0.6, 1.02, 1.25, 2.0])
def test_reading_recovers_any_rescale(marked: Image.Image, factor: float) -> None:
    """Screenshots at zoom levels between the resampled ones (4% apart) read too."""
    reading = tiled_mark.read(screenshot(factor)(marked))
    assert reading is not None and reading.found, reading
    assert reading.scale == pytest.approx(factor, rel=0.005)


def test_clean_pictures_and_their_shared_copies_show_no_mark() -> None:
    readings = [(name, read_atelier(image)) for name, image in clean_crops(10, seed=7, sizes=(160, 320), video=False)]
    assert all(not r.found for _, r in readings), [n for n, r in readings if r.found]
    assert max(r.z for _, r in readings if r.z is not None) < 6.5


def test_decision_is_a_bonferroni_bound_on_the_gaussian_tail() -> None:
    tries = 20 * tiled_mark.TILE ** 2  # 20 scales × every offset (a read tries ~480 scales)
    assert tiled_mark.false_alarm_bound(7.0, tries) == pytest.approx(tries * 0.5 * math.erfc(7.0 / math.sqrt(2)))
    assert tiled_mark.false_alarm_bound(7.0, tries) < tiled_mark.FALSE_ALARM < tiled_mark.false_alarm_bound(5.5, tries)
    assert tiled_mark.TiledReading(6.0, 1.0, (0, 0), tries, tiled_mark.false_alarm_bound(6.0, tries)).found is False


def test_mark_is_luminance_only_and_faint() -> None:
    photo = dict(wheel_photos())["skimage astronaut"]
    rgb = np.asarray(photo, dtype=np.float32)
    delta = watermarks.embed_atelier(rgb) - rgb
    assert np.allclose(delta[..., 0], delta[..., 1], atol=1e-3) and np.allclose(delta[..., 1], delta[..., 2], atol=1e-3)
    marked = np.asarray(apply_marks(photo, sdxl=False)[0], dtype=np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((marked - rgb) ** 2))
    assert psnr > 39.0


def test_too_small_to_carry_a_tile() -> None:
    small = Image.new("RGB", (100, 300), (120, 130, 140))
    assert apply_marks(small) == (small, ())
    assert not read_atelier(small).found  # readable: it may be a marked picture shown at 0.5×
    tiny = Image.new("RGB", (40, 300), (120, 130, 140))
    reading = read_atelier(tiny)
    assert not reading.found and "too small" in reading.detail


def test_a_large_picture_is_read_from_its_middle(marked: Image.Image) -> None:
    """Only the centre any rescale's window needs is converted (no 50-megapixel float copy)."""
    big = Image.new("RGB", (4000, 3000), (90, 100, 110))
    big.paste(marked, (2000 - marked.width // 2, 1500 - marked.height // 2))
    assert tiled_mark._central(big).size == (1210, 1210)  # 4 tiles at 2.3× (+2%), a few px spare
    assert read_atelier(big).found
