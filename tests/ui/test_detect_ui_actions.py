"""The Detect tab's learned-detector actions, through the context a user's click reaches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.pipelines.test_detect_scoring import small_xception_folder
from tests.pipelines.test_detect_train import write_lfw_faces
from webui.ui.detect import actions
from webui.errors import UserError


@pytest.fixture
def ctx(make_context, tmp_path: Path):
    models = tmp_path / "models"
    small_xception_folder(models / "detectors")
    return make_context(models)


def test_scan_picture_finds_the_face_and_explains_it(ctx) -> None:
    assert actions.detector_choices(ctx) == ["xception-64.pth"]
    gallery, verdict, report = actions.scan_image(ctx, Image.fromarray(data.astronaut()), None, 0.5)
    assert len(report["faces"]) == 1 and not report["whole_image"]
    x1, y1, x2, y2 = report["faces"][0]["box"]
    assert 150 < (x1 + x2) / 2 < 290 and 50 < (y1 + y2) / 2 < 200  # the astronaut's face
    assert 0 <= report["faces"][0]["fake_score"] <= 1 and report["faces"][0]["detector"] == "xception-64.pth"
    assert isinstance(gallery[0][0], Image.Image) and gallery[0][1].startswith("face 1: P(fake)")
    assert verdict.endswith("xception-64.pth)")


def test_scan_picture_bad_input(ctx, make_context, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Upload a picture"):
        actions.scan_image(ctx, None, None)
    with pytest.raises(UserError, match="not found; available: xception-64.pth"):
        actions.scan_image(ctx, Image.new("RGB", (32, 32)), "nope.pth")
    empty = make_context(tmp_path / "empty-models")
    with pytest.raises(UserError, match="No detector in"):
        actions.scan_image(empty, Image.new("RGB", (32, 32)), None)


def _face_clip(path: Path, with_face: bool) -> Path:
    from tests.video_factory import write_video

    face = data.astronaut()[0:300, 100:400]

    def frame(i: int) -> np.ndarray:
        image = np.full((300, 400, 3), 40, np.uint8)
        if with_face:
            image[:, 10 + 4 * i: 310 + 4 * i] = face
        return image

    return write_video(path, frames=12, fps=12, size=(400, 300), audio_codec=None, make_frame=frame)


@pytest.mark.e2e  # video encoding and decoding
def test_video_scan_job_writes_timeline_and_tracks(ctx, tmp_path: Path) -> None:
    job = actions.start_video_scan(ctx, str(_face_clip(tmp_path / "face.mp4", True)), None, "per second", 3)
    timeline, text, rows, report = actions.video_outputs(job)
    assert Path(timeline).is_file() and Path(timeline).read_bytes()[:4] == b"\x89PNG"
    assert report["frames_sampled"] == 3 and len(rows) == 1 and rows[0][1] == 3
    assert 0 <= report["tracks"][0]["confident"] <= 1 and "Flagged segments:" in text


@pytest.mark.e2e  # video encoding and decoding
def test_video_scan_bad_input(ctx, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Upload a video"):
        actions.start_video_scan(ctx, None, None, "per second", 2)
    with pytest.raises(UserError, match="per_second must be > 0"):
        actions.start_video_scan(ctx, "x.mp4", None, "per second", 0)
    job = actions.start_video_scan(ctx, str(_face_clip(tmp_path / "noface.mp4", False)), None, "every k-th frame", 4)
    with pytest.raises(UserError, match="no face found in 3 sampled frame"):
        actions.video_outputs(job)
    (tmp_path / "not-a-video.mp4").write_bytes(b"hello")
    with pytest.raises(UserError, match="not a readable video"):
        actions.video_outputs(actions.start_video_scan(ctx, str(tmp_path / "not-a-video.mp4"), None, "per second", 2))


@pytest.mark.slow  # trains a detector
def test_train_form_starts_a_job_and_says_why_a_model_is_not_installed(ctx, tmp_path: Path) -> None:
    real = write_lfw_faces(ctx.outputs_dir / "real", count=4)  # training folders must be in a served folder
    job = actions.start_training(ctx, str(real), "", "xception", 1, 2, 48, "ui-trained", False)
    text, report = actions.training_outputs(job)
    assert "validation AUC" in text and report["epochs"][0]["epoch"] == 1
    # 4 faces, 1 epoch: nothing learnt that held-out people show, so the form says it was not installed
    assert "**Not installed**" in text and report["installed"] is False and report["refusal"] in text
    assert "ui-trained.safetensors" not in actions.detector_choices(ctx)
    with pytest.raises(UserError, match="not a folder"):
        actions.start_training(ctx, str(ctx.outputs_dir / "missing"), "", "xception", 1, 2, 48, "x", False)
    with pytest.raises(UserError, match="outside the folders this server may use"):
        actions.start_training(ctx, str(tmp_path), "", "xception", 1, 2, 48, "x", False)
    with pytest.raises(UserError, match="batch size"):
        actions.start_training(ctx, str(real), "", "xception", 1, 1, 48, "x", False)


def test_evaluate_form_runs_the_protocol_and_shows_the_figures(ctx, tmp_path: Path) -> None:
    served = ctx.outputs_dir  # evaluation folders must be in a served folder
    real = write_lfw_faces(served / "real", count=6)
    fake = write_lfw_faces(served / "fake" / "stamped", count=6, start=50, stamp=True).parent
    job = actions.start_evaluation(ctx, str(real), str(fake), None, 0.5, True)
    text, roc, calibration, report = actions.evaluation_outputs(job)
    assert "frame: 6 real / 6 fake; AUC" in text and "fakes in stamped" in text
    assert Path(roc).name == "roc.png" and Path(calibration).name == "calibration.png"
    assert Path(roc).parent == ctx.detectors.folder / "xception-64.eval"
    assert report["levels"]["frame"]["n_fake"] == 6
    assert actions.detector_choices(ctx) == ["xception-64.pth"]
    with pytest.raises(UserError, match="not a folder"):
        actions.start_evaluation(ctx, str(served / "missing"), str(fake), None, 0.5, True)
    with pytest.raises(UserError, match="The real folder .* is outside the folders this server may use"):
        actions.start_evaluation(ctx, str(tmp_path), str(fake), None, 0.5, True)
    with pytest.raises(UserError, match="fake pictures"):
        actions.start_evaluation(ctx, str(real), "", None, 0.5, True)
