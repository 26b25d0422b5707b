"""Training a detector: SBI blends, identity-disjoint validation, BatchNorm handling, early stopping,
pretrained starts, and a refusal to install a model that does no better than chance."""

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


def write_lfw_faces(folder: Path, count: int = 8, start: int = 0, stamp: bool = False,
                    people: bool = False) -> Path:
    """Tiny real faces shipped with scikit-image (25 × 25 grey), as 48-px RGB PNGs; ``stamp``
    paints a bright square on each (a fake anyone can learn); ``people``: one sub-folder each.
    Only the first 100 of ``lfw_subset`` are faces (the rest are background patches)."""
    assert start + count <= 100, "lfw_subset holds 100 faces, then 100 non-faces"
    faces = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))[start:start + count]
    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(faces):
        grey = np.asarray(Image.fromarray((face * 255).astype(np.uint8)).resize((48, 48), Image.BICUBIC).convert("RGB"))
        if stamp:
            grey = grey.copy()
            grey[16:32, 16:32] = (255, 40, 40)
        target = folder / f"person{start + i}" if people else folder
        target.mkdir(exist_ok=True)
        Image.fromarray(grey).save(target / f"face{start + i}.png")
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


def signal_config(tmp_path: Path, **changes: object) -> TrainConfig:
    """Reals vs the same kind of faces with a red square: learnable in a couple of epochs."""
    real = write_lfw_faces(tmp_path / "real", count=16)
    fake = write_lfw_faces(tmp_path / "fake", count=16, start=50, stamp=True)
    values = dict(real_dir=real, fake_dir=fake, sbi=False, name="tiny", arch="xception", epochs=3,
                  batch_size=4, size=32, lr=1e-3, val_fraction=0.4, patience=3, min_val_auc=0.7)
    return TrainConfig(**{**values, **changes})


@pytest.mark.slow  # trains a detector
def test_two_epochs_write_a_loadable_detector_and_resume_continues(tmp_path: Path) -> None:
    """Epoch 1, then --resume to epoch 2: two epochs in all, each checkpointed and reported; the
    model separates the classes on held-out faces and is installed."""
    models, work = tmp_path / "models", tmp_path / "work"
    config = signal_config(tmp_path, epochs=1)
    lines: list[str] = []
    report = train_detector(config, models, work, log=lines.append)
    assert [e["epoch"] for e in report.epochs] == [1]
    assert all(0.0 <= e["val_auc"] <= 1.0 and np.isfinite(e["loss"]) for e in report.epochs)
    assert any("validation AUC" in line for line in lines)
    assert report.installed and report.refusal is None, report.refusal
    assert report.weights == models / "detectors" / "tiny.safetensors" and report.weights.is_file()
    sidecar = json.loads((models / "detectors" / "tiny.json").read_text())
    assert sidecar["arch"] == "xception" and sidecar["input_size"] == 32
    saved = json.loads((models / "detectors" / "tiny.train.json").read_text())
    balance = saved["class_balance"]
    assert saved["epochs"] == report.epochs and balance["val"]["real"] + balance["train"]["real"] == 16
    assert balance["val"]["fake"] + balance["train"]["fake_given"] == 16
    assert saved["batchnorm"] == "recalibrated on the final weights"

    library = DetectorLibrary(models / "detectors", ModelCache(1 << 30), DevicePolicy.detect("cpu", ram_budget_gb=1))
    assert library.names() == ["tiny.safetensors"]
    detector = library.load("tiny.safetensors")
    assert (detector.spec.layout, detector.spec.input_size) == ("atelier-xception", 32)
    reals = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "real").iterdir())]
    fakes = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "fake").iterdir())]
    real_scores, fake_scores = detector.probabilities(reals), detector.probabilities(fakes)
    assert np.all((real_scores >= 0) & (real_scores <= 1)) and np.array_equal(real_scores, detector.probabilities(reals))
    assert real_scores.mean() < 0.5 < fake_scores.mean()  # not "every input 0.99"

    resumed = train_detector(dataclasses.replace(config, epochs=2, resume=True), models, work, log=lines.append)
    assert [e["epoch"] for e in resumed.epochs] == [1, 2]
    assert resumed.epochs[:1] == report.epochs
    assert "resuming tiny after epoch 1" in lines
    assert library.load("tiny.safetensors") is not detector  # the rewritten file is reloaded


@pytest.mark.slow  # trains a detector
def test_a_model_at_chance_is_never_installed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """No signal: 'fakes' are just other real faces (LFW faces 50-65 against 0-15). The trainer
    must refuse and say why."""
    import launch

    real = write_lfw_faces(tmp_path / "real", count=16)
    fake = write_lfw_faces(tmp_path / "fake", count=16, start=50)
    argv = ["train-detector", "--real", str(real), "--fake", str(fake), "--no-sbi", "--arch", "efficientnet-b0",
            "--epochs", "3", "--batch-size", "8", "--size", "32", "--out", "chance", "--patience", "2",
            "--models-dir", str(tmp_path / "models"), "--data-dir", str(tmp_path / "data"), "--skip-install"]
    assert launch.main(argv) == 3
    out = capsys.readouterr().out
    assert "NOT INSTALLED" in out and ("below the required 0.70" in out or "would score that high" in out)
    assert not (tmp_path / "models" / "detectors" / "chance.safetensors").exists()
    kept = tmp_path / "data" / "train-detector" / "chance" / "chance.train.json"
    record = json.loads(kept.read_text())
    assert record["installed"] is False and record["refusal"]
    library = DetectorLibrary(tmp_path / "models" / "detectors", ModelCache(1 << 30), DevicePolicy.detect("cpu"))
    assert library.names() == []


def test_refusal_reasons() -> None:
    from pipelines.detect.train import refusal_reason

    assert "below the required" in refusal_reason({"val_auc": 0.55, "val_p": 0.2}, 0.7)
    assert "would score that high" in refusal_reason({"val_auc": 1.0, "val_p": 0.1}, 0.7)
    assert refusal_reason({"val_auc": 0.9, "val_p": 0.001}, 0.7) is None


@pytest.mark.slow  # trains a detector
def test_validation_people_never_train(tmp_path: Path) -> None:
    from pipelines.detect.split import cluster_embeddings, split_by_identity

    labels = ["ann"] * 5 + ["bob"] * 3 + ["cy"] * 2 + ["dee"] * 4
    train, val = split_by_identity(labels, 0.3, seed=0)
    assert sorted(train + val) == list(range(len(labels)))
    assert not {labels[i] for i in train} & {labels[i] for i in val} and val
    with pytest.raises(ValueError, match="at least 2 people"):
        split_by_identity(["ann"] * 4, 0.3, seed=0)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 64))
    points = np.concatenate([c + 0.05 * rng.standard_normal((4, 64)) for c in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    clusters = cluster_embeddings(points, 0.6)
    assert len(set(clusters)) == 3 and len(set(clusters[:4])) == 1

    config = signal_config(tmp_path, epochs=1)
    real = write_lfw_faces(tmp_path / "people-real", count=12, people=True)
    fake = write_lfw_faces(tmp_path / "people-fake", count=12, start=50, stamp=True, people=True)
    report = train_detector(dataclasses.replace(config, real_dir=real, fake_dir=fake), tmp_path / "m", tmp_path / "w",
                            log=lambda line: None)
    assert report.identities["method"] == "folders"
    assert report.identities["people"]["train"] + report.identities["people"]["val"] == 24


def test_batchnorm_recalibration_matches_the_data() -> None:
    """After recalibration the running statistics are those of the batches, whatever training did."""
    import torch

    from pipelines.detect import batchnorm

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    layer = model[1]
    layer.running_mean.fill_(50.0)
    batches = [torch.randn(8, 3, 16, 16) * 3 + 2 for _ in range(4)]
    assert batchnorm.recalibrate(model, batches, model) == 4
    with torch.no_grad():
        features = torch.cat([model[0](b) for b in batches])
    assert torch.allclose(layer.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4)
    assert not model.training and layer.momentum == 0.1
    model.train()
    batchnorm.freeze(model)
    assert model.training and not layer.training


def test_training_starts_from_imagenet_weights(tmp_path: Path) -> None:
    """An efficientnet_pytorch ImageNet file (1000-way head) is a starting point: its head is
    replaced, the rest loaded, BatchNorm statistics kept frozen."""
    import torch

    from pipelines.detect.loader import load_for_training
    from tests.factory_detectors import efficientnet_pytorch_shapes, random_state

    state = random_state(efficientnet_pytorch_shapes("b0", 1000), seed=5)
    path = tmp_path / "efficientnet-b0-imagenet.pth"
    torch.save(state, path)
    model, spec, kept = load_for_training(path)
    assert spec.arch == "efficientnet-b0" and not kept and model.classifier.out_features == 2
    assert torch.equal(model.stem.conv.weight, state["_conv_stem.weight"])
    config = signal_config(tmp_path, epochs=1, init=path, min_val_auc=0.5)
    report = train_detector(config, tmp_path / "models", tmp_path / "work", log=lambda line: None)
    assert report.batchnorm == "frozen (pretrained statistics)" and report.init == str(path)
    weights = report.weights if report.installed else tmp_path / "work" / "tiny" / "tiny.safetensors"
    from safetensors.torch import load_file

    trained = load_file(str(weights))
    assert torch.equal(trained["stem.bn.running_mean"], state["_bn0.running_mean"])  # frozen statistics
    with pytest.raises(ValueError, match="not found"):
        load_for_training(tmp_path / "missing.pth")


def test_bad_training_input_is_refused(tmp_path: Path) -> None:
    real = write_lfw_faces(tmp_path / "real", count=3)
    with pytest.raises(ValueError, match="a folder of fakes"):
        TrainConfig(real_dir=real, name="x", sbi=False)
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


@pytest.mark.slow  # trains a detector through the command line
def test_launch_train_detector_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The user's path: ``python launch.py train-detector`` (in-process, already in the venv)."""
    import launch

    real = write_lfw_faces(tmp_path / "real", count=16)
    fake = write_lfw_faces(tmp_path / "fake", count=16, start=50, stamp=True)
    argv = ["train-detector", "--real", str(real), "--fake", str(fake), "--no-sbi", "--arch", "xception",
            "--epochs", "1", "--batch-size", "4", "--size", "32", "--lr", "1e-3", "--out", "cli-b0", "--val-fraction", "0.4",
            "--models-dir", str(tmp_path / "models"), "--data-dir", str(tmp_path / "data"), "--skip-install"]
    assert launch.main(argv) == 0, capsys.readouterr().out
    out = capsys.readouterr()
    assert "cli-b0.safetensors (validation AUC" in out.out and "class balance" in out.out
    assert (tmp_path / "data" / "train-detector" / "cli-b0" / "last.pt").is_file()
    assert launch.main([*argv[:2], str(tmp_path / "missing"), *argv[3:]]) == 2
    assert "not a folder" in capsys.readouterr().out
