"""Video face swap end to end with the real built-in engine (dlib HOG + classic swap), over HTTP.

A real face photo (insightface's Tom Hanks sample) slides across a synthetic clip with a sine
audio track; the astronaut's face (scikit-image) goes in through POST /atelier/v1/faces/swap-video.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.media.video import read_frames
from tests.video_factory import probe_streams, write_video
from webui.server import create_app

pytestmark = pytest.mark.e2e  # video encoding and decoding

W, H, FACE, FRAMES = 256, 160, 128, 12


def face_photo() -> np.ndarray:
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / "Tom_Hanks_54745.png"
    return np.asarray(Image.open(path).convert("RGB").resize((FACE, FACE), Image.LANCZOS))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def face_left(i: int) -> int:
    return 8 + 10 * i


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    from pipelines.context import AppConfig, AtelierContext

    root = tmp_path_factory.mktemp("e2e")
    ctx = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    with TestClient(create_app(ctx, api=True, webui=False)) as test_client:
        yield test_client, ctx
    ctx.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    photo = face_photo()

    def frame(i: int) -> np.ndarray:
        image = np.full((H, W, 3), 110, np.uint8)
        x = face_left(i)
        image[16:16 + FACE, x:x + FACE] = photo
        return image

    return write_video(tmp_path_factory.mktemp("clip") / "walk.mp4", frames=FRAMES, fps=12, size=(W, H),
                       make_frame=frame)


def swap(client: TestClient, clip: Path, source: Image.Image, **form: Any) -> Any:
    files = {"video": ("walk.mp4", clip.read_bytes(), "video/mp4"),
             "source_image": ("astronaut.png", png(source), "image/png")}
    return client.post("/atelier/v1/faces/swap-video", files=files, data={k: str(v) for k, v in form.items()})


def test_swap_video_with_the_classic_method_keeps_timing_and_audio(client: Any, clip: Path, tmp_path: Path) -> None:
    from skimage import data

    test_client, ctx = client
    response = swap(test_client, clip, Image.fromarray(data.astronaut()), method="classic", target=0)
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 180
    while (status := test_client.get(f"/atelier/v1/jobs/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "done", status
    assert status["info"]["method"] == "classic" and status["info"]["swapped_frames"] == FRAMES
    out = tmp_path / "swapped.mp4"
    out.write_bytes(test_client.get(status["result_url"]).content)

    probe = probe_streams(out)
    assert (probe["frames"], probe["fps"], probe["width"], probe["height"]) == (FRAMES, 12, W, H)
    assert probe["audio_codec"] == "aac" and probe["audio_seconds"] == pytest.approx(FRAMES / 12, abs=0.03)
    for before, after in zip(read_frames(clip), read_frames(out)):
        x = face_left(before.index)
        inner = (slice(16 + 40, 16 + 100), slice(x + 30, x + 98))  # eyes to mouth
        changed = np.abs(before.image[inner].astype(int) - after.image[inner].astype(int)).mean()
        # background strictly outside the face box (its last frames reach the right edge, so the
        # rows above and below the face, not a right-hand strip)
        outside = np.concatenate([before.image[:10], before.image[16 + FACE + 6:]]).astype(int)
        outside_after = np.concatenate([after.image[:10], after.image[16 + FACE + 6:]]).astype(int)
        corner = np.abs(outside - outside_after).mean()
        assert changed > 6, (before.index, changed)
        assert corner < 2, (before.index, corner)


def test_a_source_without_a_face_is_refused_at_once(client: Any, clip: Path) -> None:
    test_client, ctx = client
    response = swap(test_client, clip, Image.new("RGB", (128, 128), (90, 140, 200)), method="classic")
    assert response.status_code == 422
    assert "No face found in the source image" in response.json()["detail"]
    assert list((ctx.config.data_dir / "uploads").iterdir()) == []
