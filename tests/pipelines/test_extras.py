"""Extras (upscaling): the RRDBNet reader on all three ESRGAN key layouts, the upscaler
catalog, and A1111's ``extra-single-image`` / ``extra-batch-images`` routes."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.device import DevicePolicy
from pipelines.extras.rrdbnet import RRDBNet, UnsupportedUpscalerModel, build_rrdbnet
from pipelines.extras.upscalers import UpscalerCatalog
from pipelines.models.cache import ModelCache
from pipelines.models.tensorfile import read_tensor_file
from tests.factory_upscalers import LAYOUTS, random_rrdbnet, write_upscaler
from tests.api.test_api import Api, b64png, error_detail, noise_image, unpng
from webui.server import create_app

ESRGAN = "tiny-esrgan-4x"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("upsamples,unshuffle", [(2, 1), (1, 1), (2, 2)], ids=["x4", "x2", "x2plus"])
def test_every_layout_loads_to_the_same_network(tmp_path: Path, layout: str, upsamples: int, unshuffle: int) -> None:
    net = random_rrdbnet(upsamples, unshuffle, seed=upsamples)
    fmt = "safetensors" if layout == "new" else "pth"
    loaded = build_rrdbnet(read_tensor_file(write_upscaler(tmp_path, "m", net, layout, fmt)))
    assert loaded.shape == net.shape and loaded.shape.scale == 2 ** upsamples // unshuffle
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert loaded(x).shape[-2:] == (12 * loaded.shape.scale, 10 * loaded.shape.scale)


def test_other_files_are_refused_with_a_reason() -> None:
    with pytest.raises(UnsupportedUpscalerModel, match="not an ESRGAN"):
        build_rrdbnet({"conv.weight": torch.zeros(1)})
    state = dict(random_rrdbnet().state_dict())
    state["conv_last.weight"] = torch.zeros(3, 5, 3, 3)
    with pytest.raises(UnsupportedUpscalerModel, match="do not fit an RRDBNet .conv_last.weight"):
        build_rrdbnet(state)


@pytest.fixture(scope="module")
def catalog(tiny_models_dir: Path) -> UpscalerCatalog:
    return UpscalerCatalog(tiny_models_dir, DevicePolicy.detect("cpu", "fp32"), ModelCache(1 << 30))


def test_catalog_lists_usable_files_and_reasons(catalog: UpscalerCatalog) -> None:
    assert [(i.name, i.scale) for i in catalog.usable] == [
        ("None", 4), ("Lanczos", 4), ("Nearest", 4), (ESRGAN, 4), ("tiny-realesrgan-x2", 2)]
    [bad] = catalog.unusable
    assert bad.name == "not-an-upscaler" and "not an ESRGAN" in bad.error
    with pytest.raises(LookupError, match="available: None, Lanczos, Nearest, tiny-esrgan-4x"):
        catalog.find("4x-UltraSharp")


def test_scan_reads_shapes_only_and_flags_mismatched_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = random_rrdbnet()
    write_upscaler(tmp_path / "ESRGAN", "good", net, "new", "safetensors")
    bad = dict(net.state_dict())
    bad["conv_hr.weight"] = torch.zeros(8, 8, 1, 1)
    torch.save(bad, tmp_path / "ESRGAN" / "bad.pth")
    monkeypatch.setattr(RRDBNet, "load_state_dict", lambda *a, **k: pytest.fail("the scan loaded weights"))
    catalog = UpscalerCatalog(tmp_path, DevicePolicy.detect("cpu", "fp32"), ModelCache(1 << 30))
    assert [(i.name, i.scale) for i in catalog.usable][-1] == ("good", 4)
    assert [(i.name, i.error) for i in catalog.unusable] == [("bad", "weights do not fit an RRDBNet (conv_hr.weight)")]


def test_model_upscale_sizes_and_tiles(catalog: UpscalerCatalog) -> None:
    image = noise_image(3, 40)
    assert catalog.upscale(image, ESRGAN, 4).size == (160, 160)
    assert catalog.upscale(image, ESRGAN, 2.5).size == (100, 100)  # one pass, then Lanczos down
    assert catalog.upscale(image, "tiny-realesrgan-x2", 4).size == (160, 160)  # two passes
    wide = Image.fromarray(np.asarray(noise_image(4, 64).resize((250, 9))))
    assert catalog.upscale(wide, "tiny-realesrgan-x2", 2).size == (500, 18)  # tiles, odd sides padded
    with pytest.raises(ValueError, match="megapixel limit"):
        catalog.upscale(image, "Lanczos", 400)


# -- the HTTP routes -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(ctx: AtelierContext) -> Iterator[Api]:
    yield Api(TestClient(create_app(ctx, api=True, webui=False)), ctx)


def test_single_image_scale_by_keeps_the_infotext_and_adds_the_recipe(api: Api) -> None:
    source = noise_image(5)
    body = api.ok("POST", "extra-single-image", {"image": b64png(source, {"parameters": "a cat\nSteps: 3, Seed: 1, Size: 64x64"}),
                                                 "upscaler_1": "Lanczos", "upscaling_resize": 2})
    assert set(body) == {"html_info", "image"}
    image = unpng(body["image"])
    assert image.size == (128, 128) and np.array_equal(np.asarray(image), np.asarray(source.resize((128, 128), Image.Resampling.LANCZOS)))
    assert image.info["parameters"].startswith("a cat")
    assert image.info["postprocessing"] == "Postprocess upscale by: 2, Postprocess upscaler: Lanczos"
    assert body["html_info"] == "<p>Postprocess upscale by: 2, Postprocess upscaler: Lanczos</p>"


def test_scale_to_with_and_without_crop(api: Api) -> None:
    source = b64png(noise_image(6, 64).resize((64, 32)))
    cropped = api.ok("POST", "extra-single-image", {"image": source, "resize_mode": 1, "upscaler_1": "Nearest",
                                                    "upscaling_resize_w": 96, "upscaling_resize_h": 96})
    image = unpng(cropped["image"])
    assert image.size == (96, 96) and "Postprocess crop to: 96x96" in image.info["postprocessing"]
    kept = api.ok("POST", "extra-single-image", {"image": source, "resize_mode": 1, "upscaler_1": "Nearest",
                                                 "upscaling_resize_w": 96, "upscaling_resize_h": 96,
                                                 "upscaling_crop": False})
    assert unpng(kept["image"]).size == (192, 96)  # covers the target, aspect kept (A1111)


def test_second_upscaler_is_blended_and_face_restore_warns(api: Api) -> None:
    source = noise_image(7)
    body = api.ok("POST", "extra-single-image", {
        "image": b64png(source), "upscaler_1": "Lanczos", "upscaler_2": "Nearest", "extras_upscaler_2_visibility": 0.25,
        "upscaling_resize": 2, "gfpgan_visibility": 0.5})
    first, second = (source.resize((128, 128), r) for r in (Image.Resampling.LANCZOS, Image.Resampling.NEAREST))
    assert np.array_equal(np.asarray(unpng(body["image"])), np.asarray(Image.blend(first, second, 0.25)))
    assert "Postprocess upscaler 2: Nearest" in body["html_info"] and "gfpgan_visibility" in body["html_info"]


def test_esrgan_upscaler_over_http(api: Api) -> None:
    names = {u["name"]: u for u in api.ok("GET", "upscalers")}
    assert names[ESRGAN]["model_name"] == "ESRGAN" and names[ESRGAN]["scale"] == 4
    assert names[ESRGAN]["model_path"].endswith("ESRGAN/tiny-esrgan-4x.pth") and "not-an-upscaler" not in names
    assert [m["name"] for m in api.ok("GET", "realesrgan-models")] == ["tiny-realesrgan-x2"]
    body = api.ok("POST", "extra-single-image", {"image": b64png(noise_image(8)), "upscaler_1": ESRGAN,
                                                 "upscaling_resize": 4})
    assert unpng(body["image"]).size == (256, 256)
    status = api.client.get("/atelier/v1/status").json()
    assert [u["name"] for u in status["unusable_upscalers"]] == ["not-an-upscaler"]


def test_batch_saves_under_extras_images_with_the_names(api: Api) -> None:
    items = [{"data": b64png(noise_image(i, 32)), "name": f"shot-{i}.png"} for i in range(2)]
    body = api.ok("POST", "extra-batch-images", {"imageList": items, "upscaler_1": "Lanczos", "save_images": True})
    assert set(body) == {"html_info", "images"} and [unpng(d).size for d in body["images"]] == [(64, 64)] * 2
    saved = sorted(p.name for p in (api.ctx.outputs_dir / "extras-images").glob("*/*.png"))
    assert [name[6:] for name in saved[-2:]] == ["shot-0.png", "shot-1.png"]
    assert Image.open(next((api.ctx.outputs_dir / "extras-images").glob("*/*shot-1.png"))).info["postprocessing"]


def test_hires_fix_can_use_an_esrgan_upscaler(api: Api) -> None:
    _, info = api.generate(enable_hr=True, hr_upscaler=ESRGAN, hr_scale=2, hr_second_pass_steps=1,
                           denoising_strength=0.5)
    assert f"Hires upscaler: {ESRGAN}" in info["infotexts"][0] and info["width"] == 64


BAD_EXTRAS = [
    ("extra-single-image", {"image": b64png(noise_image()), "upscaler_1": "4x-UltraSharp"}, "available: None, Lanczos"),
    ("extra-single-image", {"image": b64png(noise_image()), "upscaler_1": "Lanczos", "upscaler_2": "nope"}, "'nope'"),
    ("extra-single-image", {"image": "@@@", "upscaler_1": "Lanczos"}, "image: not"),
    ("extra-single-image", {}, "image: empty image data"),
    ("extra-single-image", {"image": b64png(noise_image()), "resize_mode": 2}, "resize_mode"),
    ("extra-single-image", {"image": b64png(noise_image()), "upscaling_resize": 20}, "upscaling_resize"),
    ("extra-batch-images", {"imageList": [{"data": base64.b64encode(b"text").decode(), "name": "a"}]},
     "imageList[0].data: not a decodable image"),
    ("extra-batch-images", {"imageList": "x"}, "imageList"),
]


@pytest.mark.parametrize("route,body,fragment", BAD_EXTRAS, ids=[str(i) for i in range(len(BAD_EXTRAS))])
def test_bad_extras_input_is_a_422(api: Api, route: str, body: dict, fragment: str) -> None:
    response = api.client.post(f"/sdapi/v1/{route}", json=body)
    assert response.status_code == 422 and fragment in error_detail(response), response.text
