"""Face restoration of finished images: ``restore_faces`` in /sdapi/v1 txt2img / img2img (A1111's
``face_restoration_model`` option) and the Extras' GFPGAN / CodeFormer visibility."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.faces.layout import FaceModelLayout
from pipelines.faces.restoration import FaceRestoration
from tests.factory_faces import bright_squares, build_codeformer, build_restorer
from tests.faces_data import face_ctx  # noqa: F401 (fixture)
from tests.api.test_api import Api, b64png, unpng
from webui.server import create_app

PAIR = [(128, 160), (448, 320)]


@pytest.fixture(scope="module")
def api(face_ctx: AtelierContext) -> Api:  # noqa: F811
    return Api(TestClient(create_app(face_ctx, api=True, webui=False)), face_ctx)


def test_restore_faces_uses_the_restorer_and_records_it(api: Api) -> None:
    body, info = api.generate(restore_faces=True)
    assert info["restore_faces"] is True and info["face_restoration_model"] == "GFPGANv1.4.onnx"
    assert "Face restoration: GFPGANv1.4.onnx" in info["infotexts"][0]
    assert not any(w.startswith("restore_faces") for w in info["warnings"])
    _, plain = api.generate(restore_faces=None)
    assert plain["restore_faces"] is False and "Face restoration" not in plain["infotexts"][0]


def test_restore_faces_runs_on_every_img2img_image(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine restores each image before it is stamped: seen through the restorer's own call."""
    calls: list[str] = []
    original = api.ctx.face_restoration.restore
    monkeypatch.setattr(api.ctx.face_restoration, "restore", lambda image, model, v=1.0: calls.append(model) or original(image, model, v))
    body, info = api.generate("img2img", init_images=[b64png(Image.fromarray(bright_squares([(32, 48), (96, 48)], (128, 96), 24)))],
                              restore_faces=True, batch_size=2, width=128, height=96)
    assert calls == ["GFPGANv1.4.onnx"] * 2 and len(body["images"]) == 2


def test_extras_gfpgan_visibility_restores_faces(api: Api) -> None:
    image = Image.fromarray(bright_squares(PAIR))
    body = api.ok("POST", "extra-single-image", {"image": b64png(image), "gfpgan_visibility": 1.0})
    out, before = np.asarray(unpng(body["image"]).convert("RGB")).astype(int), np.asarray(image).astype(int)
    face, background = (slice(130, 190), slice(98, 158)), (slice(0, 40), slice(0, 40))
    assert np.abs(out[face] - before[face]).mean() > 20 > 2 > np.abs(out[background] - before[background]).mean()
    assert "GFPGAN visibility: 1" in body["html_info"] and "GFPGAN model: GFPGANv1.4.onnx" in body["html_info"]
    assert "face restorer" not in body["html_info"]


def test_restorer_choice_follows_the_option(tmp_path: Path) -> None:
    layout = FaceModelLayout(tmp_path)
    preferred: list = [None]
    restoration = FaceRestoration(lambda: SimpleNamespace(layout=layout), lambda: preferred[0])
    assert restoration.model() is None and "no face restorer in" in restoration.unavailable("restore_faces")
    for name in ("GFPGANv1.4.onnx", "codeformer-v0.1.0.onnx"):
        build_restorer(tmp_path / "facerestore" / name, size=64)
    assert restoration.model() == "GFPGANv1.4.onnx" and restoration.model("CodeFormer") == "codeformer-v0.1.0.onnx"
    preferred[0] = "CodeFormer"
    assert restoration.model() == "codeformer-v0.1.0.onnx"
    preferred[0] = "GPEN"  # no such file: the first one
    assert restoration.model() == "GFPGANv1.4.onnx"


def test_face_restoration_model_option_round_trip(api: Api) -> None:
    api.ok("POST", "options", {"face_restoration_model": "GFPGAN"})
    assert api.ok("GET", "options")["face_restoration_model"] == "GFPGAN"
    _, info = api.generate(restore_faces=True)
    assert info["face_restoration_model"] == "GFPGANv1.4.onnx"
    api.ok("POST", "options", {"face_restoration_model": None})


def test_codeformer_visibility_uses_codeformer_and_its_weight(api: Api) -> None:
    folder = api.ctx.faces.layout.restore_dir
    build_codeformer(folder / "codeformer-v0.1.0.onnx")
    try:
        assert sorted(r["name"] for r in api.ok("GET", "face-restorers")) == ["CodeFormer", "GFPGAN"]  # A1111 names
        image = b64png(Image.fromarray(bright_squares(PAIR)))
        outputs = {}
        for weight in (0.2, 0.9):
            body = api.ok("POST", "extra-single-image", {"image": image, "codeformer_visibility": 1.0,
                                                          "codeformer_weight": weight})
            assert "CodeFormer model: codeformer-v0.1.0.onnx" in body["html_info"]
            assert f"CodeFormer weight: {weight}" in body["html_info"]
            outputs[weight] = np.asarray(unpng(body["image"]).convert("RGB")).astype(int)
        face = (slice(130, 190), slice(98, 158))
        assert outputs[0.9][face].mean() > outputs[0.2][face].mean() + 20  # the weight reached the model
        api.ok("POST", "options", {"face_restoration_model": "CodeFormer", "code_former_weight": 0.9})
        _, info = api.generate(restore_faces=True)
        assert info["face_restoration_model"] == "codeformer-v0.1.0.onnx"
    finally:
        api.ok("POST", "options", {"face_restoration_model": None, "code_former_weight": 0.5})
        (folder / "codeformer-v0.1.0.onnx").unlink()
