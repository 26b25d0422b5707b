"""/atelier/v1 jobs API: swap-video uploads, polling any job, fetching results, cancelling.

The face engine here is the square-painting stand-in of tests/video_factory.py (routes, queue,
files and ownership are what is tested); tests/pipelines/test_video_swap_e2e.py runs the real engine.
"""

from __future__ import annotations

import base64
import io
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.faces import video_swap
from pipelines.jobs import JobControl
from tests.video_factory import H, W, SquareSwapper, draw, probe_streams, write_video
from webui.server import create_app


def png_bytes(size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 150, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}


class Gate:
    """Holds a stand-in swap at frame 2 until released, so tests can act on a running job."""

    def __init__(self) -> None:
        self.reached, self.release = threading.Event(), threading.Event()


@pytest.fixture
def env(make_context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Any, Gate]]:
    ctx = make_context(tmp_path / "no-models")
    gate = Gate()
    gate.release.set()

    class GatedSwapper(SquareSwapper):
        def detect(self, image: np.ndarray) -> list:
            if self.detect_calls == 2:
                gate.reached.set()
                assert gate.release.wait(20)
            return super().detect(image)

    monkeypatch.setattr(video_swap, "engine_swapper", lambda ctx, source, request, **_: GatedSwapper())
    with TestClient(create_app(ctx, api=True, webui=False)) as client:
        yield client, ctx, gate


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "walk.mp4", frames=12, fps=12, size=(W, H), make_frame=draw)


def upload(client: TestClient, video: bytes, filename: str = "walk.mp4", headers: dict | None = None,
           **form: Any) -> Any:
    files = {"video": (filename, video, "video/mp4"), "source_image": ("face.png", png_bytes(), "image/png")}
    return client.post("/atelier/v1/faces/swap-video", files=files, data={k: str(v) for k, v in form.items()},
                       headers=headers or {})


def wait_done(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/atelier/v1/jobs/{job_id}").json()
        if status["state"] not in ("queued", "running"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running")


@pytest.mark.e2e  # video encoding and decoding
def test_swap_video_upload_poll_and_download(env: Any, clip: Path) -> None:
    client, ctx, _ = env
    response = upload(client, clip.read_bytes(), target="all", name="")
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    status = wait_done(client, job_id)
    assert status["state"] == "done", status
    assert status["progress"] == 1.0 and "frames/s" in status["textinfo"] and status["kind"] == "faces-video"
    assert status["result_url"] == f"/atelier/v1/jobs/{job_id}/result"
    assert status["info"]["frames"] == 12 and re.search(r"faces/\d{4}-\d\d-\d\d/00000-walk\.mp4$", status["info"]["path"])
    video = client.get(status["result_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    (Path(ctx.config.data_dir) / "got.mp4").write_bytes(video.content)
    out = probe_streams(Path(ctx.config.data_dir) / "got.mp4")
    assert (out["frames"], out["fps"], out["audio_codec"]) == (12, 12, "aac")
    assert list((ctx.config.data_dir / "uploads").iterdir()) == []  # the upload lives only as long as its job


def test_any_queue_job_can_be_polled_and_its_file_fetched(env: Any, tmp_path: Path) -> None:
    client, ctx, _ = env
    release = threading.Event()
    image_path = tmp_path / "00000-1-cat.png"
    Image.new("RGB", (8, 8)).save(image_path)

    class Result:
        paths = [image_path]

    def generation(control: JobControl) -> Result:
        control.start(10, textinfo="sampling")
        control.step(3)
        assert release.wait(20)
        return Result()

    job = ctx.queue.submit("txt2img", generation)
    deadline = time.monotonic() + 20
    while ctx.queue.current is not job or job.control.progress.step < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    running = client.get(f"/atelier/v1/jobs/{job.id}").json()
    assert running["state"] == "running" and running["progress"] == pytest.approx(0.3)
    assert running["textinfo"] == "sampling" and running["eta"] is not None and "result_url" not in running
    early = client.get(f"/atelier/v1/jobs/{job.id}/result")
    assert early.status_code == 409 and "not ready" in early.json()["detail"]
    release.set()
    job.wait(20)
    done = client.get(f"/atelier/v1/jobs/{job.id}").json()
    assert done["state"] == "done" and done["result_urls"] == [f"/atelier/v1/jobs/{job.id}/result?index=0"]
    image = client.get(done["result_urls"][0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert client.get(f"/atelier/v1/jobs/{job.id}/result?index=1").status_code == 404
    missing = client.get("/atelier/v1/jobs/nope")
    assert missing.status_code == 404 and "no job 'nope'" in missing.json()["detail"]


@pytest.mark.e2e  # video encoding and decoding
def test_cancel_only_reaches_the_callers_own_jobs(env: Any, clip: Path) -> None:
    client, ctx, gate = env
    gate.release.clear()
    job_id = upload(client, clip.read_bytes(), headers=basic("alice")).json()["job_id"]
    assert gate.reached.wait(20)
    other = client.post(f"/atelier/v1/jobs/{job_id}/cancel", headers=basic("bob"))
    assert other.status_code == 403 and "belongs to someone else" in other.json()["detail"]
    mine = client.post(f"/atelier/v1/jobs/{job_id}/cancel", headers=basic("alice"))
    assert mine.status_code == 200 and mine.json()["cancelled"] is True
    gate.release.set()
    status = wait_done(client, job_id)
    assert status["state"] == "cancelled" and "cancelled at frame 3" in status["error"]
    assert client.get(f"/atelier/v1/jobs/{job_id}/result").status_code == 409
    assert not list((ctx.config.data_dir / "outputs" / "faces").rglob("*.mp4"))
    again = client.post(f"/atelier/v1/jobs/{job_id}/cancel", headers=basic("alice"))
    assert again.status_code == 409 and "already ended" in again.json()["detail"]

    # a browser session's job is not the API's to stop; an ownerless (A1111 route) job is anyone's
    blocker = threading.Event()
    ui_job = ctx.queue.submit("txt2img", lambda control: blocker.wait(20), owner="session-1")
    assert client.post(f"/atelier/v1/jobs/{ui_job.id}/cancel").status_code == 403
    shared = ctx.queue.submit("txt2img", lambda control: None)
    assert client.post(f"/atelier/v1/jobs/{shared.id}/cancel").status_code == 200
    blocker.set()
    assert shared.done.wait(20) and shared.state.value == "cancelled"


@pytest.mark.e2e  # video encoding and decoding
def test_bad_uploads_answer_4xx_with_a_message(env: Any, clip: Path) -> None:
    client, ctx, _ = env
    cases = [
        (upload(client, b"this is not a video", filename="notes.mp4"), 422, "video: notes.mp4: not a readable video"),
        (upload(client, png_bytes(), filename="still.png"), 422, "is a still image, not a video"),
        (upload(client, b"", filename="empty.mp4"), 422, "video: the uploaded file is empty"),
        (upload(client, clip.read_bytes(), target="first"), 422, "target"),
        (upload(client, clip.read_bytes(), method="magic"), 422, "method"),
    ]
    bad_source = client.post("/atelier/v1/faces/swap-video", files={
        "video": ("walk.mp4", clip.read_bytes(), "video/mp4"), "source_image": ("face.png", b"nope", "image/png")})
    cases.append((bad_source, 422, "source_image: not a decodable image"))
    ctx.settings_store.update({"faces_video_max_mb": 0.001})
    cases.append((upload(client, clip.read_bytes()), 413, "larger than the 0.001 MB limit"))
    for response, status, text in cases:
        assert response.status_code == status, response.text
        assert text in response.json()["detail"]
    assert list((ctx.config.data_dir / "uploads").iterdir()) == []
