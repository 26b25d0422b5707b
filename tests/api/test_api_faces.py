"""/atelier/v1/faces routes through FastAPI's TestClient (synthetic insightface models, built-in on a photo)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.provenance import watermarks
from pipelines.provenance.metadata import read_record
from tests.factory_faces import bright_squares, build_face_models
from tests.faces_data import astronaut
from webui.server import create_app

PAIR = [(128, 160), (448, 320)]


def b64(image) -> str:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def client(make_context, tmp_path: Path) -> TestClient:
    ctx = make_context(build_face_models(tmp_path / "models"))
    client = TestClient(create_app(ctx, api=True, webui=False))
    client.app_ctx = ctx
    return client


def test_detect(client: TestClient) -> None:
    response = client.post("/atelier/v1/faces/detect", json={"image": "data:image/png;base64," + b64(bright_squares(PAIR))})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detector"] == "insightface/buffalo_l" and len(body["faces"]) == 2
    face = body["faces"][0]
    assert len(face["box"]) == 4 and 0 <= face["score"] <= 1 and len(face["landmarks"]) == 106
    assert face["gender"] in ("M", "F") and isinstance(face["age"], int) and face["embedding_model"] == "arcface/w600k_r50"
    assert "embedding" not in face
    assert body["faces"][0]["box"][0] < body["faces"][1]["box"][0]


def test_swap_returns_png_with_info_and_saves(client: TestClient) -> None:
    target = bright_squares(PAIR)
    response = client.post("/atelier/v1/faces/swap", json={
        "source_image": b64(bright_squares([(320, 240)])), "target_image": b64(target),
        "target_face_indices": "all", "restore": "GFPGANv1.4.onnx", "restore_weight": 0.7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "inswapper" and body["swapped"] == [0, 1]
    image = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert image.info["parameters"] == body["info"] and "restore GFPGANv1.4.onnx (0.7)" in body["info"]
    assert image.size == (640, 480) and not np.array_equal(np.asarray(image.convert("RGB")), target)
    assert "saved" in body["info"]
    # The returned image carries the same provenance as the saved file: record and invisible mark.
    record = read_record(image)
    assert record is not None and record.operation == "faces" and "atelier-2" in record.marks
    assert len(record.sources) == 2 and watermarks.read_atelier(image.convert("RGB")).found
    saved = Image.open(next(iter(sorted((client.app_ctx.writer.root / "faces").rglob("*.png")))))
    assert read_record(saved) == record and np.array_equal(np.asarray(saved.convert("RGB")),
                                                           np.asarray(image.convert("RGB")))


@pytest.mark.parametrize("mode, order, swapped_square", [
    ("one", "right-left", 1), ("one", "left-right", 0), ("one", "bottom-top", 1), ("many", "left-right", None),
])
def test_swap_selector_modes_and_orders(client: TestClient, mode: str, order: str, swapped_square) -> None:
    """FaceFusion's selector modes: ``one`` is the first face in the chosen order, ``many`` every face."""
    client.app_ctx.writer.provenance_marks = False  # marks touch every pixel; this checks which face changed
    target = bright_squares(PAIR)
    response = client.post("/atelier/v1/faces/swap", json={
        "source_image": b64(bright_squares([(320, 240)])), "target_image": b64(target), "order": order,
        "face_selector_mode": mode, "target_face_indices": [0], "save_images": False})
    assert response.status_code == 200, response.text
    out = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["image"]))).convert("RGB")).astype(int)
    changed = [bool((np.abs(out - target)[y - 30:y + 30, x - 30:x + 30] > 0).any()) for x, y in PAIR]
    assert changed == ([True, True] if swapped_square is None else [i == swapped_square for i in range(2)])


def test_reference_selector_needs_a_reference(client: TestClient) -> None:
    response = client.post("/atelier/v1/faces/swap", json={
        "source_image": b64(bright_squares([(320, 240)])), "target_image": b64(bright_squares(PAIR)),
        "face_selector_mode": "reference"})
    assert response.status_code == 422 and "needs a reference face" in response.json()["detail"]
    response = client.post("/atelier/v1/faces/swap", json={
        "source_image": b64(bright_squares([(320, 240)])), "target_image": b64(bright_squares(PAIR)),
        "face_selector_mode": "reference", "reference_image": b64(bright_squares(PAIR)), "threshold": 1e-3})
    assert response.status_code == 200 and response.json()["swapped"] == [0]


@pytest.mark.parametrize("fields, status, message", [
    ({"source_image": b64(np.full((64, 64, 3), 10, np.uint8))}, 422, "No face found in the source image"),
    ({"source_image": "bm90IGFuIGltYWdl"}, 422, "source_image: not a decodable image"),
    ({"target_face_indices": [7]}, 422, "Target face index 7 is out of range"),
    ({"method": "deep"}, 422, "method"),
    ({"restore": "missing.onnx"}, 422, "missing.onnx"),
    ({"face_model": "nobody"}, 422, "exactly one of source_image or face_model"),
])
def test_swap_bad_input(client: TestClient, fields: dict, status: int, message: str) -> None:
    body = {"source_image": b64(bright_squares([(320, 240)])), "target_image": b64(bright_squares(PAIR)), **fields}
    response = client.post("/atelier/v1/faces/swap", json=body)
    assert response.status_code == status and message in response.json()["detail"], response.text


def test_builtin_classic_swap_on_a_photo(make_context, tmp_path: Path) -> None:
    client = TestClient(create_app(make_context(tmp_path / "empty-models"), api=True, webui=False))
    detect = client.post("/atelier/v1/faces/detect", json={"image": b64(astronaut())}).json()
    assert detect["detector"] == "dlib-hog" and len(detect["faces"]) == 1 and len(detect["faces"][0]["landmarks"]) == 68
    response = client.post("/atelier/v1/faces/swap", json={"source_image": b64(astronaut().transpose(Image.FLIP_LEFT_RIGHT)),
                                                          "target_image": b64(astronaut()), "save_images": False})
    assert response.status_code == 200, response.text
    assert response.json()["method"] == "classic"
    missing = client.post("/atelier/v1/faces/swap", json={"source_image": b64(astronaut()), "target_image": b64(astronaut()),
                                                         "method": "inswapper"})
    assert missing.status_code == 422 and "inswapper_128.onnx" in missing.json()["detail"]
