"""Training a detector with Self-Blended Images: blend, 2 epochs, resume, report, usable output."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from pipelines.detect.library import DetectorLibrary
from pipelines.detect.sbi import hull_mask, self_blend
from pipelines.detect.train import TrainConfig, roc_auc, train_detector
from pipelines.device import DevicePolicy
from pipelines.models.cache import ModelCache


def write_lfw_faces(folder: Path, count: int = 8) -> Path:
    """Tiny real faces shipped with scikit-image (25 × 25 grey), as 48-px RGB PNGs."""
    faces = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))[:count]
    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(faces):
        grey = Image.fromarray((face * 255).astype(np.uint8)).resize((48, 48), Image.BICUBIC)
        grey.convert("RGB").save(folder / f"face{i}.png")
    return folder


def test_self_blend_mixes_inside_the_hull_only() -> None:
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    hull = np.array([[20, 20], [44, 20], [44, 48], [20, 48]], np.float32)
    assert hull_mask((64, 64), hull)[30, 30] == 1 and hull_mask((64, 64), hull)[5, 5] == 0
    for seed in range(6):
        blended, mask = self_blend(image, hull, np.random.default_rng(seed))
        assert blended.shape == image.shape and blended.dtype == np.uint8
        assert 0 <= mask.min() and mask.max() <= 1 and mask[2, 2] < 1e-3 and mask[32, 32] > 0.2
        assert not np.array_equal(blended, image)
    a, _ = self_blend(image, None, np.random.default_rng(3))
    b, _ = self_blend(image, None, np.random.default_rng(3))
    assert np.array_equal(a, b)
    del rng


def test_roc_auc() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.7]) == 0.875
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_two_epochs_write_a_loadable_detector_and_resume_continues(tmp_path: Path) -> None:
    """Epoch 1, then --resume to epoch 2: two epochs in all, each checkpointed and reported."""
    real = write_lfw_faces(tmp_path / "real")
    models, work = tmp_path / "models", tmp_path / "work"
    config = TrainConfig(real_dir=real, name="tiny-sbi", arch="xception", epochs=1, batch_size=4, size=48)
    lines: list[str] = []
    report = train_detector(config, models, work, log=lines.append)
    assert [e["epoch"] for e in report.epochs] == [1]
    assert all(0.0 <= e["val_auc"] <= 1.0 and np.isfinite(e["loss"]) for e in report.epochs)
    assert any("validation AUC" in line for line in lines)
    assert report.weights == models / "detectors" / "tiny-sbi.safetensors" and report.weights.is_file()
    sidecar = json.loads((models / "detectors" / "tiny-sbi.json").read_text())
    assert sidecar["arch"] == "xception" and sidecar["input_size"] == 48
    assert json.loads((models / "detectors" / "tiny-sbi.train.json").read_text())["epochs"] == report.epochs

    library = DetectorLibrary(models / "detectors", ModelCache(1 << 30), DevicePolicy.detect("cpu", ram_budget_gb=1))
    assert library.names() == ["tiny-sbi.safetensors"]
    detector = library.load("tiny-sbi.safetensors")
    assert (detector.spec.layout, detector.spec.input_size) == ("atelier-xception", 48)
    crops = [np.asarray(Image.open(p)) for p in sorted(real.iterdir())[:3]]
    scores = detector.probabilities(crops)
    assert np.all((scores >= 0) & (scores <= 1)) and np.array_equal(scores, detector.probabilities(crops))

    resumed = train_detector(dataclasses.replace(config, epochs=2, resume=True), models, work, log=lines.append)
    assert [e["epoch"] for e in resumed.epochs] == [1, 2]
    assert resumed.epochs[:1] == report.epochs
    assert "resuming tiny-sbi after epoch 1" in lines
    assert library.load("tiny-sbi.safetensors") is not detector  # the rewritten file is reloaded


def test_bad_training_input_is_refused(tmp_path: Path) -> None:
    real = write_lfw_faces(tmp_path / "real", count=3)
    with pytest.raises(ValueError, match="nothing to resume"):
        train_detector(TrainConfig(real_dir=real, name="x", arch="xception", epochs=1, batch_size=2, size=32,
                                   resume=True), tmp_path / "m", tmp_path / "w")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        train_detector(TrainConfig(real_dir=tmp_path / "empty", name="x", arch="xception"), tmp_path / "m",
                       tmp_path / "w")
    with pytest.raises(ValueError, match="unknown architecture"):
        TrainConfig(real_dir=real, name="x", arch="resnet50")
    with pytest.raises(ValueError, match="plain file name"):
        TrainConfig(real_dir=real, name="../escape", arch="xception")


def test_launch_train_detector_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The user's path: ``python launch.py train-detector`` (in-process, already in the venv)."""
    import launch

    real = write_lfw_faces(tmp_path / "real", count=4)
    argv = ["train-detector", "--real", str(real), "--arch", "efficientnet-b4", "--epochs", "1",
            "--batch-size", "2", "--size", "32", "--out", "cli-b4", "--models-dir", str(tmp_path / "models"),
            "--data-dir", str(tmp_path / "data"), "--skip-install"]
    assert launch.main(argv) == 0
    out = capsys.readouterr()
    assert "cli-b4.safetensors (validation AUC" in out.out
    assert (tmp_path / "data" / "train-detector" / "cli-b4" / "last.pt").is_file()
    assert launch.main([*argv[:2], str(tmp_path / "missing"), *argv[3:]]) == 2
    assert "not a folder" in capsys.readouterr().out
