"""Scoring pictures and videos with a learned detector: crops, Grad-CAM, verdicts, tracks, timeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.detect.aggregate import confident_strategy, segments_above
from pipelines.detect.crops import square_crop_box
from pipelines.detect.image import score_image
from pipelines.detect.library import DetectorLibrary
from pipelines.detect.video import Sampling, save_timeline, score_video
from pipelines.device import DevicePolicy
from pipelines.faces.types import DetectedFace
from pipelines.models.cache import ModelCache
from tests import factory_detectors as fd


def small_xception_folder(folder: Path) -> Path:
    """A DeepfakeBench Xception told by its sidecar to look at 64-px crops (fast on a CPU)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd.write_deepfakebench_xception(folder, "xception-64", seed=11)
    (folder / "xception-64.json").write_text(json.dumps({"input_size": 64}))
    return folder


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory):
    folder = small_xception_folder(tmp_path_factory.mktemp("detectors"))
    return DetectorLibrary(folder, ModelCache(4 << 30), DevicePolicy.detect("cpu", ram_budget_gb=4)).load("xception-64.pth")


def face(box: tuple[float, float, float, float]) -> DetectedFace:
    x1, y1, x2, y2 = box
    kps = np.array([[x1 + 0.3 * (x2 - x1), y1 + 0.4 * (y2 - y1)]] * 5, np.float32)
    return DetectedFace(box=box, score=0.99, kps5=kps)


def picture(seed: int = 0, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_square_crop_box_keeps_margin_and_stays_inside() -> None:
    assert square_crop_box((40, 40, 60, 70), 1.3, 200, 200) == (30, 36, 69, 75)  # 30 × 1.3 = 39 around centre
    assert square_crop_box((0, 0, 20, 20), 2.0, 100, 80) == (0, 0, 40, 40)  # shifted inside at the corner
    assert square_crop_box((10, 10, 90, 70), 2.0, 100, 80) == (10, 0, 90, 80)  # too big: shrunk to the height


def test_faces_scored_with_heatmaps_and_a_verdict(detector) -> None:
    image = picture()
    faces = [face((10, 10, 50, 60)), face((90, 30, 140, 90))]
    report = score_image(detector, image, faces)
    assert len(report.faces) == 2 and not report.whole_image
    for scored in report.faces:
        assert 0.0 <= scored.fake_score <= 1.0
        side = scored.crop_box[2] - scored.crop_box[0]
        assert isinstance(scored.heatmap, Image.Image) and scored.heatmap.size == (side, side)
    again = score_image(detector, image, faces, heatmaps=False)
    assert [f.fake_score for f in again.faces] == pytest.approx([f.fake_score for f in report.faces], abs=1e-6)
    assert score_image(detector, image, faces, threshold=0.0).to_json()["fake"] is True
    data = score_image(detector, image, faces, threshold=1.0).to_json()
    assert data["fake"] is False and data["verdict"].startswith("no manipulation detected (2 face(s)")
    assert data["faces"][0].keys() >= {"box", "fake_score", "detector"}


def test_picture_without_faces_is_scored_whole_and_flagged(detector) -> None:
    report = score_image(detector, picture(1), [])
    assert report.whole_image and len(report.faces) == 1
    assert report.faces[0].crop_box == (0, 0, 160, 120)
    assert "whole picture, no face found" in report.verdict


def test_confident_strategy_and_segments() -> None:
    assert confident_strategy([0.5, 0.6, 0.7]) == pytest.approx(0.6)
    many_fake = [0.95] * 12 + [0.3] * 10
    assert confident_strategy(many_fake) == pytest.approx(0.95)  # 12 confident fakes are not diluted
    assert confident_strategy([0.1] * 19 + [0.9]) == pytest.approx(0.1)  # nearly all confidently real
    segments = segments_above([0, 1, 2, 3, 4, 5], [0.1, 0.8, 0.9, 0.2, 0.7, 0.75], 0.5, 1.0)
    assert [(s.start, s.end, s.peak) for s in segments] == [(1, 3, 0.9), (4, 6, 0.75)]


def _clip(path: Path) -> Path:
    from tests.video_factory import write_video

    return write_video(path, frames=24, fps=12, size=(96, 64), audio_codec=None,
                       make_frame=lambda i: np.full((64, 96, 3), (i * 9) % 256, np.uint8))


@pytest.mark.e2e  # video encoding and decoding
def test_video_scored_per_track_with_timeline(detector, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")

    def two_faces(image: np.ndarray) -> list[DetectedFace]:
        return [face((5, 5, 35, 40)), face((55, 10, 90, 50))]

    report = score_video(clip, detector, two_faces, Sampling(per_second=4))
    assert report.frames_sampled == 8 and [t.track_id for t in report.tracks] == [0, 1]
    for track in report.tracks:
        assert len(track.scores) == 8 and all(0 <= s <= 1 for s in track.scores)
        assert 0 <= track.confident <= 1 and track.mean == pytest.approx(np.mean(track.scores))
    png = save_timeline(report, tmp_path / "out", "clip")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(png).size == (800, 300)
    flagged = score_video(clip, detector, two_faces, Sampling(every=6), threshold=0.0)
    assert flagged.frames_sampled == 4 and len(flagged.segments) == 1 and flagged.to_json()["fake"] is True


@pytest.mark.e2e  # video encoding and decoding
def test_video_without_faces_is_a_clear_error(detector, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="no face found in 6 sampled frame"):
        score_video(clip, detector, lambda image: [], Sampling(every=4))
    with pytest.raises(ValueError, match="every must be"):
        score_video(clip, detector, lambda image: [], Sampling(every=0))
