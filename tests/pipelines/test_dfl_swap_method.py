"""A trained face model as a swap method everywhere: "trained model: <name>" in the Faces engine (image
swap), the video swap job, the generation post-process and the /atelier/v1 API — no source picture
needed, the model holds the source person."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.dfl.train import Trainer, TrainOptions, prepare_config, run_training
from pipelines.faces.errors import FaceError
from pipelines.faces.video_swap import VideoSwapRequest, start_video_swap
from tests.dfl_clips import TINY_MODEL, clip_frame, prepared_workspace
from tests.video_factory import probe_streams

pytestmark = pytest.mark.e2e  # the trained model comes from video clips (prepared_workspace)

METHOD = "trained model: tiny"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A context whose models/dfl holds a tiny model trained on the astronaut → Grace Hopper clips."""
    from pipelines.context import AppConfig, AtelierContext
    from webui.server import builtin_extensions

    root = tmp_path_factory.mktemp("dflswap")
    context = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    builtin_extensions(context)
    ws = prepared_workspace(root / "clips", context.faces)
    folder = root / "models" / "dfl" / "tiny"
    config, _ = prepare_config(folder, **TINY_MODEL)
    run_training(Trainer(ws, folder, config, False, torch.device("cpu"), TrainOptions(iterations=2)))
    context.dst_video = ws.root / ws.read_frames_meta("dst")["video"]  # type: ignore[attr-defined]
    yield context
    context.close()


def target() -> Image.Image:
    return Image.fromarray(clip_frame("hopper", 3, 10, 256))


def face_changed(ctx: Any, before: Image.Image, after: Image.Image) -> tuple[float, float]:
    """(fraction of changed pixels inside the face box, fraction outside the box grown 1.5×)."""
    x1, y1, x2, y2 = ctx.faces.detect(before, embed=False)[0].box
    changed = np.abs(np.asarray(after.convert("RGB")).astype(int) - np.asarray(before).astype(int)).sum(-1) > 20
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.75 * max(x2 - x1, y2 - y1)
    outside = np.ones_like(changed)
    outside[max(int(cy - half), 0):int(cy + half), max(int(cx - half), 0):int(cx + half)] = False
    return float(changed[int(y1):int(y2), int(x1):int(x2)].mean()), float(changed[outside].mean())


def test_the_method_is_listed_and_swaps_without_a_source_picture(ctx: Any) -> None:
    assert ctx.faces.swap_methods() == ["auto", "inswapper", "classic", METHOD]
    before = target()
    ctx.writer.provenance_marks = False  # the invisible marks touch every pixel; this checks the swap's own
    try:
        result = ctx.faces.swap(None, before, method=METHOD, save=True)
    finally:
        ctx.writer.provenance_marks = True
    inside, overall = face_changed(ctx, before, result.image)
    assert inside > 0.3 and overall < 0.01
    assert result.method == "trained" and "Face swap: trained, trained model tiny" in result.info
    assert "saved" in result.info


def test_unknown_model_and_missing_source_are_clear(ctx: Any) -> None:
    with pytest.raises(FaceError, match="No trained face model 'nope'.*trained models: tiny"):
        ctx.faces.swap(None, target(), method="trained model: nope")
    with pytest.raises(FaceError, match="needs a source picture"):
        ctx.faces.swap(None, target(), method="classic")


def test_the_faces_tab_action_swaps_with_the_trained_model(ctx: Any) -> None:
    from webui.ui.faces import actions

    actions.acknowledge_notice(ctx)
    image, info = actions.swap_image(ctx, None, actions.NO_FACE_MODEL, target(), 0, "0", METHOD, None, 0.6, "any",
                                     0.02, 0.08, 1.0, "multiband", actions.NO_FACE_MODEL, 1.0)
    assert "trained model tiny" in info and face_changed(ctx, target(), image)[0] > 0.3


def test_video_swap_job_with_the_trained_model(ctx: Any) -> None:
    job = start_video_swap(ctx, VideoSwapRequest(video=ctx.dst_video, method=METHOD), None)
    result = job.wait(120)
    assert result.frames == 10 and result.swapped_frames == 10 and result.method == "trained"
    streams = probe_streams(result.path)
    assert streams["frames"] == 10 and streams["audio_codec"] == "aac"


def test_generation_post_process_with_the_trained_model(ctx: Any) -> None:
    from pipelines.diffusion.alwayson import ImageInfo
    from pipelines.diffusion.request import Txt2ImgRequest

    script = ctx.alwayson.find("face swap")
    args = [None, 0, "0", METHOD]
    request = script.before_generation(Txt2ImgRequest(prompt="x"), args)
    assert request.extra["Face swap"] == "trained, trained model tiny, target faces 0"
    out = script.postprocess_image(target(), ImageInfo("txt2img", Txt2ImgRequest(prompt="x"), 1, 0), args)
    assert face_changed(ctx, target(), out)[0] > 0.3
    with pytest.raises(ValueError, match="unknown method 'trained model: nope'"):
        script.check_args([None, 0, "0", "trained model: nope"])


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_api_image_and_video_swap_with_the_trained_model(ctx: Any) -> None:
    from webui.server import create_app

    client = TestClient(create_app(ctx, api=True, webui=False))
    response = client.post("/atelier/v1/faces/swap", json={"target_image": png_b64(target()), "method": METHOD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "trained" and body["swapped"] == [0]
    image = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert face_changed(ctx, target(), image)[0] > 0.3
    response = client.post("/atelier/v1/faces/swap", json={"target_image": png_b64(target()), "method": "classic"})
    assert response.status_code == 422 and "source_image" in response.text
    response = client.post("/atelier/v1/faces/swap", json={"target_image": png_b64(target()),
                                                           "method": "trained model: nope"})
    assert response.status_code == 422 and "No trained face model 'nope'" in response.text

    with open(ctx.dst_video, "rb") as handle:
        response = client.post("/atelier/v1/faces/swap-video", files={"video": ("dst.mp4", handle, "video/mp4")},
                               data={"method": METHOD, "target": "0"})
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    for _ in range(240):
        status = client.get(f"/atelier/v1/jobs/{job_id}").json()
        if status["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert status["state"] == "done", status
    video = client.get(f"/atelier/v1/jobs/{job_id}/result")
    assert video.status_code == 200 and len(video.content) > 1000
    with open(ctx.dst_video, "rb") as handle:
        response = client.post("/atelier/v1/faces/swap-video", files={"video": ("dst.mp4", handle, "video/mp4")},
                               data={"method": "classic"})
    assert response.status_code == 422 and "source_image" in response.text


def test_model_folder_name_is_never_a_path(ctx: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a path"):
        ctx.faces.swap(None, target(), method="trained model: ../../etc")
