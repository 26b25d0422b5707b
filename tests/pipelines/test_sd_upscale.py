"""SD upscale: tiling geometry, and the script end to end through ``POST /sdapi/v1/img2img``."""

from __future__ import annotations

import json
from typing import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.scripts.sd_upscale import _starts, combine_tiles, split_tiles
from tests.api.test_api import FAST, Api, b64png, noise_image, unpng
from webui.server import create_app


@pytest.mark.parametrize("size,tile,overlap,starts", [
    (160, 64, 16, [0, 48, 96]), (64, 64, 16, [0]), (100, 64, 0, [0, 36]), (130, 64, 32, [0, 22, 44, 66]),
])
def test_tiles_cover_the_image_evenly_as_a1111(size: int, tile: int, overlap: int, starts: list[int]) -> None:
    assert _starts(size, tile, overlap) == starts


@pytest.mark.parametrize("size,overlap", [((160, 128), 16), ((64, 200), 32), ((100, 100), 0)])
def test_unchanged_tiles_put_back_give_the_same_picture(size: tuple[int, int], overlap: int) -> None:
    image = noise_image(1, 256).crop((0, 0, *size))
    grid = split_tiles(image, 64, 64, overlap)
    assert all(tile.size == (64, 64) for tile in grid.tiles)
    assert np.array_equal(np.asarray(combine_tiles(grid)), np.asarray(image))


def test_overlaps_are_blended_from_one_tile_into_the_next() -> None:
    grid = split_tiles(Image.new("RGB", (112, 64)), 64, 64, 16)  # tiles at x = 0 and 48
    combined = np.asarray(combine_tiles(grid.with_tiles([Image.new("RGB", (64, 64), (0, 0, 0)),
                                                         Image.new("RGB", (64, 64), (255, 255, 255))])))
    ramp = combined[0, 48:64, 0].astype(int)
    assert combined[0, 47, 0] == 0 and combined[0, 64, 0] == 255
    assert ramp[0] == 0 and list(ramp) == sorted(ramp) and 200 < ramp[-1] < 255


@pytest.fixture(scope="module")
def api(ctx: AtelierContext) -> Iterator[Api]:
    yield Api(TestClient(create_app(ctx, api=True, webui=False)), ctx)


def test_sd_upscale_redraws_the_upscaled_picture_in_tiles(api: Api) -> None:
    source = noise_image(2)
    body, info = api.generate("img2img", init_images=[b64png(source)], batch_size=4, seed=20, save_images=True,
                              denoising_strength=0.3, script_name="SD upscale", script_args=["", 16, "Lanczos", 2])
    [data] = body["images"]
    image = unpng(data)
    assert image.size == (128, 128) and info["all_seeds"] == [20]
    text = image.info["parameters"]
    assert "SD upscale overlap: 16, SD upscale upscaler: Lanczos" in text and "Size: 64x64" in text
    plain = np.asarray(source.resize((128, 128), Image.Resampling.LANCZOS)).astype(int)
    difference = np.abs(np.asarray(image).astype(int) - plain).mean()
    assert 0 < difference < 100  # redrawn, yet still the upscaled picture
    saved = list((api.ctx.outputs_dir / "img2img-images").glob("*/*.png"))
    assert len(saved) == 1 and Image.open(saved[0]).size == (128, 128)  # no tile files


def test_upscaler_by_index_and_two_pictures(api: Api) -> None:
    body, info = api.generate("img2img", init_images=[b64png(noise_image(3))], n_iter=2, seed=5,
                              script_name="sd upscale", script_args=[None, 0, 2, 1.5])
    assert [unpng(d).size for d in body["images"]] == [(96, 96)] * 2 and info["all_seeds"] == [5, 6]
    assert "SD upscale upscaler: Nearest" in json.loads(json.dumps(info))["infotexts"][0]
    assert "sd upscale" in api.ok("GET", "scripts")["img2img"] and "sd upscale" not in api.ok("GET", "scripts")["txt2img"]


BAD = [
    ("txt2img", {}, "script SD upscale does not support txt2img"),
    ("img2img", {"script_args": ["", 16, 99, 2]}, "upscaler index 99 out of range; upscalers: 0: None"),
    ("img2img", {"script_args": ["", 16, "4x-Foo", 2]}, "unknown upscaler '4x-Foo'"),
    ("img2img", {"script_args": ["", 64, "Lanczos", 2]}, "overlap must be"),
    ("img2img", {"script_args": ["", 16, "Lanczos", 0.5]}, "scale factor must be between 1 and 8"),
    ("img2img", {"init_images": [b64png(noise_image(0, 32))], "script_args": ["", 8, "Lanczos", 1]},
     "smaller than one tile"),
]


@pytest.mark.parametrize("route,fields,fragment", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_sd_upscale_input_is_a_422(api: Api, route: str, fields: dict, fragment: str) -> None:
    body = {**FAST, "init_images": [b64png(noise_image())], "script_name": "SD upscale", **fields}
    assert fragment in api.fails("POST", route, 422, body)
