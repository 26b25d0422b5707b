"""Always-on scripts (``ctx.alwayson``) through A1111's ``alwayson_scripts`` request field."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.diffusion.alwayson import AlwaysOnRegistry, AlwaysOnScript, ImageInfo, ScriptArg
from tests.api.test_api import FAST, Api, b64png, noise_image, unpng
from webui.server import create_app


class Paint(AlwaysOnScript):
    """Fills every image with one colour and records what the engine told it."""

    title = "Paint"
    args = (ScriptArg("red", 0, 0, 255), ScriptArg("green", 0, 0, 255), ScriptArg("blue", 0, 0, 255))

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []
        self.batches: list[tuple[int, list[int]]] = []
        self.finished: list[int] = []

    def check_args(self, args: list[Any]) -> None:
        if len(args) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in args):
            raise ValueError("Paint needs three integers 0-255")

    def before_generation(self, request: Any, args: list[Any]) -> Any:
        return request.model_copy(update={"extra": {**request.extra, "Paint": "-".join(map(str, args))}})

    def before_batch(self, request: Any, batch: int, seeds: list[int], args: list[Any]) -> None:
        self.batches.append((batch, seeds))

    def postprocess_image(self, image: Image.Image, info: ImageInfo, args: list[Any]) -> Image.Image:
        self.seen.append((info.kind, info.seed, info.index))
        return Image.new("RGB", image.size, tuple(args))

    def after_generation(self, result: Any, args: list[Any]) -> None:
        self.finished.append(len(result.images))


class Broken(AlwaysOnScript):
    title = "Broken"
    txt2img = False

    def postprocess_image(self, image: Image.Image, info: ImageInfo, args: list[Any]) -> Image.Image:
        raise RuntimeError("no face found")


@pytest.fixture(scope="module")
def api(ctx: AtelierContext) -> Iterator[Api]:
    paint, broken = Paint(), Broken()
    removers = [ctx.alwayson.register(paint), ctx.alwayson.register(broken)]
    yield Api(TestClient(create_app(ctx, api=True, webui=False)), ctx)
    for remove in removers:
        remove()


def paint(api: Api) -> Paint:
    return next(s for s in api.ctx.alwayson.scripts if isinstance(s, Paint))


def solid(data: str, colour: tuple[int, int, int]) -> bool:
    return bool((np.asarray(unpng(data).convert("RGB")) == colour).all())


def test_enabled_script_runs_its_hooks_on_every_image_and_saved_file(api: Api) -> None:
    script = paint(api)
    script.seen.clear()
    script.batches.clear()
    body, info = api.generate(batch_size=2, seed=10, save_images=True, alwayson_scripts={"paint": {"args": [255, 0, 0]}})
    assert script.batches == [(0, [10, 11])]
    assert all(solid(data, (255, 0, 0)) for data in body["images"])
    assert all("Paint: 255-0-0" in text for text in info["infotexts"])
    assert script.seen == [("txt2img", 10, 0), ("txt2img", 11, 1)] and script.finished[-1] == 2
    saved = sorted((api.ctx.outputs_dir / "txt2img-images").glob("*/*.png"))[-2:]
    assert all((np.asarray(Image.open(p).convert("RGB")) == (255, 0, 0)).all() for p in saved)
    plain, info = api.generate(seed=10)
    assert not solid(plain["images"][0], (255, 0, 0)) and "Paint" not in info["infotexts"][0]


def test_img2img_and_script_cells_run_it_too(api: Api) -> None:
    body, _ = api.generate("img2img", init_images=[b64png(noise_image())], alwayson_scripts={"Paint": {"args": [0, 0, 9]}})
    assert solid(body["images"][0], (0, 0, 9)) and paint(api).seen[-1][0] == "img2img"
    args = ["Steps", "2,3", "", "Nothing", "", "", "Nothing", "", "", True, True]
    body, info = api.generate(script_name="x/y/z plot", script_args=args, alwayson_scripts={"paint": {"args": [0, 7, 0]}})
    assert len(body["images"]) == 3 and all(solid(d, (0, 7, 0)) for d in body["images"][1:])


def test_a_failing_image_hook_keeps_the_image_and_warns(api: Api) -> None:
    body, info = api.generate("img2img", init_images=[b64png(noise_image())], alwayson_scripts={"broken": {"args": []}})
    assert "Broken: no face found" in info["warnings"] and len(body["images"]) == 1


def test_scripts_and_script_info_list_always_on_scripts(api: Api) -> None:
    scripts = api.ok("GET", "scripts")
    assert "paint" in scripts["txt2img"] and "broken" not in scripts["txt2img"] and "broken" in scripts["img2img"]
    info = [s for s in api.ok("GET", "script-info") if s["is_alwayson"] and s["name"] in ("paint", "broken")]
    assert {(s["name"], s["is_img2img"]) for s in info} == {("paint", False), ("paint", True), ("broken", True)}
    assert next(s for s in info if s["name"] == "paint")["args"][0] == {
        "label": "red", "value": 0, "minimum": 0, "maximum": 255, "step": None, "choices": None}


BAD = [
    ({"no such script": {"args": []}}, "always-on script no such script not found"),
    ({"paint": {"args": [1, 2]}}, "Paint needs three integers"),
    ({"paint": [1, 2, 3]}, 'alwayson_scripts.paint: expected {"args": [...]}'),
    ({"paint": {"args": "red"}}, "alwayson_scripts.paint"),
    ({"broken": {"args": []}}, "always-on script Broken does not support txt2img"),
]


@pytest.mark.parametrize("scripts,fragment", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_always_on_requests_are_422_before_queueing(api: Api, scripts: dict, fragment: str) -> None:
    before = len(paint(api).seen)
    assert fragment in api.fails("POST", "txt2img", 422, {**FAST, "alwayson_scripts": scripts})
    assert len(paint(api).seen) == before


def test_registry_refuses_duplicates_and_unregisters() -> None:
    registry = AlwaysOnRegistry()
    remove = registry.register(Paint())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Paint())
    remove()
    assert registry.scripts == []
    with pytest.raises(ValueError, match="needs a title"):
        registry.register(AlwaysOnScript())
