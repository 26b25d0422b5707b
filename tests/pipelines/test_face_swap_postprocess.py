"""Face swap as a post-process of generation: the built-in extension's always-on script through
its hook, the /sdapi/v1 ``alwayson_scripts`` field and the txt2img accordion's runner."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.diffusion.alwayson import ImageInfo
from pipelines.diffusion.request import Txt2ImgRequest
from pipelines.jobs import JobControl
from tests.factory_faces import bright_squares
from tests.faces_data import astronaut, builtin_faces, face_ctx, insightface_photo  # noqa: F401 (fixtures)
from tests.api.test_api import FAST, Api, b64png, noise_image
from webui.extensions import FaceTools
from webui.server import builtin_extensions, create_app
from webui.ui.generation.scripts import ALWAYSON, SEP, make_runner

TITLE = "face swap"
SOURCE = bright_squares([(320, 240)])
PAIR = [(128, 160), (448, 320)]


@pytest.fixture(scope="module")
def api(face_ctx: AtelierContext) -> Api:  # noqa: F811
    return Api(TestClient(create_app(face_ctx, api=True, webui=False)), face_ctx)


def _script(ctx: AtelierContext) -> Any:
    return ctx.alwayson.find(TITLE)


def _info(ctx: AtelierContext) -> ImageInfo:
    return ImageInfo("txt2img", Txt2ImgRequest(prompt="x"), 1, 0)


def test_registered_through_the_extension_api(api: Api) -> None:
    names = {e["name"]: e for e in api.ok("GET", "extensions")}
    assert names["builtin-face-swap"]["status"] == "loaded"
    info = next(s for s in api.ok("GET", "script-info") if s["name"] == TITLE and s["is_alwayson"])
    assert [a["label"] for a in info["args"]] == ["Source image", "Source face index", "Target face indices",
                                                 "Method", "Restore face", "Restore visibility"]


def test_postprocess_swaps_chosen_faces_and_prepares_the_source_once(api: Api, face_ctx: AtelierContext,  # noqa: F811
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(face_ctx)
    calls: list[int] = []
    original = face_ctx.faces.prepare_source
    monkeypatch.setattr(face_ctx.faces, "prepare_source", lambda *a, **k: calls.append(1) or original(*a, **k))
    target = Image.fromarray(bright_squares(PAIR))
    args = [b64png(Image.fromarray(SOURCE)), 0, "1", "auto", "GFPGANv1.4.onnx", 0.5]
    first = np.asarray(script.postprocess_image(target, _info(face_ctx), args)).astype(int)
    second = np.asarray(script.postprocess_image(target, _info(face_ctx), args)).astype(int)
    before = np.asarray(target).astype(int)
    assert len(calls) == 1 and (first == second).all()
    left, right = (slice(128, 192), slice(96, 160)), (slice(288, 352), slice(416, 480))
    assert np.abs(first[left[0], left[1]] - before[left[0], left[1]]).max() == 0  # face 0 untouched
    assert np.abs(first[right[0], right[1]] - before[right[0], right[1]]).mean() > 5  # face 1 swapped


def test_classic_method_on_real_photos(face_ctx: AtelierContext, builtin_faces: Any) -> None:  # noqa: F811
    # the same script over the built-in engine
    script = type(_script(face_ctx))(FaceTools(SimpleNamespace(faces=builtin_faces)))
    target = astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    args = [insightface_photo("t1.jpg"), 2, "0", "classic"]
    request = script.before_generation(Txt2ImgRequest(prompt="x"), args)
    assert request.extra["Face swap"] == "classic, source face 2, target faces 0"
    out = np.asarray(script.postprocess_image(target, _info(face_ctx), args)).astype(int)
    x1, y1, x2, y2 = map(int, builtin_faces.detect(target)[0].box)
    changed = np.abs(out - np.asarray(target).astype(int)).sum(axis=2) > 0
    assert changed[y1:y2, x1:x2].mean() > 0.3 and changed.mean() < 0.1  # the face only


def test_api_txt2img_records_the_method_and_warns_without_a_target_face(api: Api) -> None:
    body, info = api.generate(alwayson_scripts={TITLE: {"args": [b64png(Image.fromarray(SOURCE)), 0, "all"]}})
    assert 'Face swap: "inswapper, source face 0, target faces all"' in info["infotexts"][0]
    assert info["extra_generation_params"]["Face swap"].startswith("inswapper")
    assert len(body["images"]) == 1 and "face swap: No face found in the target image." in info["warnings"]


@pytest.mark.parametrize("args,fragment", [
    ([], "give a source image"),
    (["not base64!!"], "face swap source image"),
    ([b64png(noise_image(size=96))], "No face found in the source image"),
    ([b64png(Image.fromarray(SOURCE)), 3], "Source face index 3 is out of range"),
    ([b64png(Image.fromarray(SOURCE)), 0, "a,b"], "Face indices"),
    ([b64png(Image.fromarray(SOURCE)), 0, "0", "magic"], "unknown method"),
    ([b64png(Image.fromarray(SOURCE)), 0, "0", "auto", "missing.onnx"], "missing.onnx"),
])
def test_bad_arguments_are_422_before_queueing(api: Api, args: list, fragment: str) -> None:
    assert fragment in api.fails("POST", "txt2img", 422, {**FAST, "alwayson_scripts": {TITLE: {"args": args}}})


def test_ui_accordion_values_run_the_swap(api: Api, face_ctx: AtelierContext) -> None:  # noqa: F811
    prefix = f"{ALWAYSON}{SEP}{TITLE}{SEP}"
    values = {f"{prefix}enabled": True, f"{prefix}0": Image.fromarray(SOURCE), f"{prefix}1": 0,
              f"{prefix}2": "0", f"{prefix}3": "inswapper", f"{prefix}4": "None", f"{prefix}5": 1.0}
    run = make_runner(face_ctx, "None", values)
    assert run is not None
    result = run(Txt2ImgRequest(prompt="a red fox", seed=3, **FAST), JobControl())
    assert "Face swap: \"inswapper, source face 0, target faces 0\"" in result.infotexts[0]
    values[f"{prefix}0"] = None
    with pytest.raises(ValueError, match="give a source image"):
        make_runner(face_ctx, "None", values)(Txt2ImgRequest(prompt="x", **FAST), JobControl())


def test_txt2img_and_img2img_show_the_face_swap_accordion(face_ctx: AtelierContext) -> None:  # noqa: F811
    import gradio as gr

    from webui.ui.app import build_ui

    demo = build_ui(face_ctx, builtin_extensions(face_ctx))
    sources = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Image)
               and (b.elem_id or "").endswith("_face_swap_source")}
    assert set(sources) == {"txt2img_face_swap_source", "img2img_face_swap_source"}
    assert all(image.type == "pil" for image in sources.values())
    restorers = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Restore face"]
    assert len(restorers) == 2 and ("GFPGANv1.4.onnx", "GFPGANv1.4.onnx") in restorers[0].choices
