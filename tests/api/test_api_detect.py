"""/atelier/v1/detect with learned detectors (random-weight fixtures) beside provenance, and
/atelier/v1/detect-video as a job followed through /atelier/v1/jobs/{id}."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from skimage import data
from PIL import Image

from tests.api.test_api_jobs import wait_done
from tests.pipelines.test_detect_scoring import small_xception_folder
from tests.ui.test_detect_ui_actions import _face_clip
from webui.server import create_app

DETECTOR = "xception-64.pth"


@pytest.fixture(scope="module")
def detect_ctx(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pipelines.context import AppConfig, AtelierContext

    root = tmp_path_factory.mktemp("detect-api")
    small_xception_folder(root / "models" / "detectors")
    context = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    yield context
    context.close()


@pytest.fixture(scope="module")
def client(detect_ctx: Any) -> TestClient:
    return TestClient(create_app(detect_ctx, api=True, webui=False))


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_detect_scores_faces_beside_the_provenance(client: TestClient) -> None:
    body = client.post("/atelier/v1/detect", json={"image": _png(Image.fromarray(data.astronaut()))}).json()
    (face,) = body["faces"]
    x1, y1, x2, y2 = face["box"]
    assert 150 < (x1 + x2) / 2 < 290 and 0 <= face["fake_score"] <= 1 and face["detector"] == DETECTOR
    assert body["detector"] == DETECTOR and body["provenance"]["signals"]
    provenance, faces = body["verdict"].split(". Faces: ")
    assert provenance == body["provenance"]["verdict"] and faces.endswith(f"{DETECTOR})")
    strict = client.post("/atelier/v1/detect", json={"image": _png(Image.fromarray(data.astronaut())),
                                                     "detector": DETECTOR, "threshold": 0.0}).json()
    assert strict["verdict"].split(". Faces: ")[1].startswith("likely manipulated")


def test_detect_bad_input(client: TestClient) -> None:
    image = _png(Image.new("RGB", (32, 32)))
    unknown = client.post("/atelier/v1/detect", json={"image": image, "detector": "nope.pth"})
    assert unknown.status_code == 422 and f"available: {DETECTOR}" in unknown.json()["detail"]
    escape = client.post("/atelier/v1/detect", json={"image": image, "detector": "../../etc/passwd"})
    assert escape.status_code == 422
    bad = client.post("/atelier/v1/detect", json={"image": base64.b64encode(b"GIF89a nope").decode()})
    assert bad.status_code == 422 and "not a decodable image" in bad.json()["detail"]
    assert client.post("/atelier/v1/detect", json={"image": image, "threshold": 2}).status_code == 422


def test_detect_without_a_detector_says_faces_were_not_scored(make_context, tmp_path: Path) -> None:
    client = TestClient(create_app(make_context(tmp_path / "models"), api=True, webui=False))
    body = client.post("/atelier/v1/detect", json={"image": _png(Image.fromarray(data.astronaut()))}).json()
    assert body["faces"] == [] and body["detector"] is None and "Faces: not scored (no deepfake detector in" in body["verdict"]
    clip = io.BytesIO(b"whatever")
    response = client.post("/atelier/v1/detect-video", files={"video": ("a.mp4", clip, "video/mp4")})
    assert response.status_code == 501 and "no deepfake detector" in response.json()["detail"]


@pytest.mark.e2e  # video encoding and decoding
def test_detect_video_job_reports_tracks_and_timeline(client: TestClient, detect_ctx: Any, tmp_path: Path) -> None:
    clip = _face_clip(tmp_path / "face.mp4", True)
    response = client.post("/atelier/v1/detect-video", data={"sampling": "per second", "rate": "3"},
                           files={"video": ("face.mp4", clip.read_bytes(), "video/mp4")})
    assert response.status_code == 200, response.text
    status = wait_done(client, response.json()["job_id"])
    assert status["state"] == "done" and status["kind"] == "detect-video" and status["progress"] == 1.0
    report = status["info"]
    assert report["detector"] == DETECTOR and report["frames_sampled"] == 3 and len(report["tracks"]) == 1
    assert 0 <= report["tracks"][0]["confident"] <= 1 and report["verdict"]
    timeline = client.get(status["result_url"])
    assert timeline.status_code == 200 and timeline.content[:4] == b"\x89PNG"
    assert not any((detect_ctx.config.data_dir / "uploads").glob("*"))  # the upload is removed with its job


def test_detect_video_bad_input(client: TestClient) -> None:
    files = {"video": ("x.mp4", b"hello", "video/mp4")}
    zero = client.post("/atelier/v1/detect-video", data={"rate": "0"}, files=files)
    assert zero.status_code == 422 and "per_second must be > 0" in zero.json()["detail"]
    assert client.post("/atelier/v1/detect-video", data={"detector": "nope.pth"}, files=files).status_code == 422
    assert client.post("/atelier/v1/detect-video", data={}).status_code == 422  # no file
    job = client.post("/atelier/v1/detect-video", files=files).json()["job_id"]
    status = wait_done(client, job)
    assert status["state"] == "failed" and "not a readable video" in status["error"]
