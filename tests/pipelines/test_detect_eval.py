"""The evaluation protocol: metrics on known scores, and ``launch.py eval-detector`` end to end
(pictures in domain sub-folders, videos scored frame by frame, figures beside the model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.detect import metrics
from pipelines.detect.spec import DetectorSpec, build_model
from pipelines.detect.train import save_detector
from tests.pipelines.test_detect_train import write_lfw_faces
from tests.video_factory import write_video


def test_metrics_on_known_scores() -> None:
    labels = [0, 0, 0, 1, 1, 1]
    assert metrics.roc_auc(labels, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == 1.0
    assert metrics.equal_error_rate(labels, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == 0.0
    assert metrics.equal_error_rate(labels, [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]) == 1.0
    assert metrics.equal_error_rate([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.5)
    assert metrics.average_precision(labels, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == 1.0
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2)
    fpr, tpr, _ = metrics.roc_curve(labels, [0.1, 0.2, 0.8, 0.3, 0.7, 0.9])
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)
    assert metrics.accuracy_at(labels, [0.1, 0.2, 0.6, 0.4, 0.8, 0.9], 0.5) == pytest.approx(4 / 6)
    bins = metrics.calibration_bins([0, 1, 1, 1], [0.05, 0.95, 0.92, 0.15], bins=5)
    assert bins[0] == (pytest.approx(0.1), 0.5, 2) and bins[-1] == (pytest.approx(0.935), 1.0, 2)
    assert metrics.auc_p_value(labels, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == pytest.approx(1 / 20)


def test_bootstrap_interval_resamples_groups() -> None:
    rng = np.random.default_rng(0)
    labels = [0] * 40 + [1] * 40
    scores = list(rng.normal(0, 1, 40)) + list(rng.normal(1.5, 1, 40))
    auc = metrics.roc_auc(labels, scores)
    low, high = metrics.bootstrap_interval(labels, scores, metrics.roc_auc, rounds=300)
    assert low < auc < high and high - low < 0.3
    # ten frames of each of 8 clips that share a clip-level score: far fewer independent units
    groups = [f"clip{i // 10}" for i in range(80)]
    clip_level = np.repeat(rng.normal(0, 1, 8), 10) + np.r_[np.zeros(40), np.full(40, 1.5)]
    framed = list(clip_level + rng.normal(0, 0.1, 80))
    low, high = metrics.bootstrap_interval(labels, framed, metrics.roc_auc, rounds=300)
    g_low, g_high = metrics.bootstrap_interval(labels, framed, metrics.roc_auc, rounds=300, groups=groups)
    assert g_high - g_low > high - low


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    models = tmp_path_factory.mktemp("models")
    spec = DetectorSpec(arch="xception", input_size=32, layout="atelier-xception")
    save_detector(build_model(spec).eval(), spec, models / "detectors", "tiny-eval", {"note": "random weights"})
    return models


def test_launch_eval_detector_command(tiny_detector: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import launch

    real = write_lfw_faces(tmp_path / "real" / "lfw", count=12, people=True).parent  # lfw/person<i>/face<i>.png
    fake = tmp_path / "fake"
    write_lfw_faces(fake / "stamped", count=6, start=50, stamp=True)  # a domain of loose pictures
    write_lfw_faces(fake / "others" / "clip", count=6, start=70)  # a domain with one clip of 6 frames
    argv = ["eval-detector", "--real", str(real), "--fake", str(fake), "--detector", "tiny-eval.safetensors",
            "--whole-image", "--bootstrap", "200", "--models-dir", str(tiny_detector),
            "--data-dir", str(tmp_path / "data"), "--skip-install"]
    assert launch.main(argv) == 0
    out = capsys.readouterr().out
    assert "frame: 12 real / 12 fake; AUC" in out and "fakes in stamped: 6 vs all reals" in out
    folder = tiny_detector / "detectors" / "tiny-eval.eval"
    record = json.loads((folder / "eval.json").read_text())
    frame = record["levels"]["frame"]
    assert frame["auc_ci"][0] <= frame["auc"] <= frame["auc_ci"][1]
    assert set(record["domains"]) == {"stamped", "others"} and len(record["samples"]) == 24 + 1  # + the clip
    assert {s["group"] for s in record["samples"] if s["label"] == 0} == {f"real:lfw/person{i}" for i in range(12)}
    for name in ("roc.png", "calibration.png"):
        with Image.open(folder / name) as picture:
            assert picture.size == (500, 500)
    from pipelines.detect.library import DetectorLibrary
    from pipelines.device import DevicePolicy
    from pipelines.models.cache import ModelCache

    library = DetectorLibrary(tiny_detector / "detectors", ModelCache(1 << 30), DevicePolicy.detect("cpu"))
    assert library.names() == ["tiny-eval.safetensors"]  # the results are not taken for a detector
    assert launch.main([*argv[:2], str(tmp_path / "missing"), *argv[3:]]) == 2
    assert "not a folder" in capsys.readouterr().out


@pytest.mark.e2e
def test_videos_are_scored_per_frame_and_per_clip(tiny_detector: Path, tmp_path: Path) -> None:
    from pipelines.detect.evaluate import evaluate
    from pipelines.detect.library import DetectorLibrary
    from pipelines.device import DevicePolicy
    from pipelines.detect.video import Sampling
    from pipelines.faces.types import DetectedFace
    from pipelines.models.cache import ModelCache

    for side in ("real", "fake"):
        (tmp_path / side).mkdir()
        for i in range(2):
            write_video(tmp_path / side / f"clip{i}.mp4", frames=6, fps=6, audio_codec=None)
    (tmp_path / "fake" / "broken.mp4").write_bytes(b"not a video")
    whole = lambda image: [DetectedFace((0.0, 0.0, float(image.shape[1]), float(image.shape[0])), 0.99,  # noqa: E731
                                        np.zeros((5, 2), np.float32))]
    detector = DetectorLibrary(tiny_detector / "detectors", ModelCache(1 << 30),
                               DevicePolicy.detect("cpu")).load("tiny-eval.safetensors")
    result = evaluate(detector, tmp_path / "real", tmp_path / "fake", whole, tmp_path / "out",
                      sampling=Sampling(every=2), rounds=50)
    assert result.levels["frame"]["n_real"] == 6 and result.levels["frame"]["n_fake"] == 6
    assert result.levels["video"]["n_real"] == 2 and result.levels["video"]["n_fake"] == 2
    assert result.levels["video"]["groups"] == 4
    assert any("broken.mp4" in s for s in result.skipped)
    assert (tmp_path / "out" / "roc.png").is_file()
