"""Detector architectures and checkpoint layouts: strict loads, key semantics, clear refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.detect.efficientnet import EfficientNet, tf_same_pads
from pipelines.detect.library import DetectorLibrary
from pipelines.detect.loader import load_network
from pipelines.detect.xception import Xception
from pipelines.device import DevicePolicy
from pipelines.models.cache import ModelCache
from tests import factory_detectors as fd


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_published_architectures() -> None:
    # ImageNet heads: efficientnet_pytorch B0 5,288,548 / B4 19,341,616; Cadene's Xception 22,855,952.
    assert _params(EfficientNet("b0", 1000)) == 5_288_548
    assert _params(EfficientNet("b4", 1000)) == 19_341_616
    assert _params(Xception(1000)) == 22_855_952


def test_tf_same_padding_and_the_static_variant() -> None:
    assert tf_same_pads(380, 3, 2) == (0, 1)
    assert tf_same_pads(95, 5, 2) == (2, 2)
    assert tf_same_pads(64, 5, 2) == (1, 2)
    assert tf_same_pads(17, 3, 1) == (1, 1)
    torch.manual_seed(0)
    dynamic = EfficientNet("b0", 2, padding="dynamic").eval()
    static = EfficientNet("b0", 2, padding="static").eval()
    static.load_state_dict(dynamic.state_dict())
    native = torch.rand(1, 3, 224, 224)  # at the native size both paddings agree
    with torch.no_grad():
        assert torch.allclose(dynamic(native), static(native), atol=1e-5)
        small = torch.rand(1, 3, 66, 66)  # odd sizes inside: static keeps the 224-px pads (efficientnet_pytorch)
        assert dynamic.features(small).shape[-1] == 3 and static.features(small).shape[-1] == 2


@pytest.fixture(scope="module")
def detectors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("detectors")
    fd.write_deepfakebench_xception(folder)
    fd.write_deepfakebench_xception(folder, "dfb-xception-dp", seed=5, data_parallel=True)
    fd.write_deepfakebench_efficientnetb4(folder)
    fd.write_sbi_efficientnetb4(folder)
    (folder / "README.md").write_text("not weights")
    return folder


@pytest.fixture(scope="module")
def library(detectors_dir: Path) -> DetectorLibrary:
    return DetectorLibrary(detectors_dir, ModelCache(8 << 30), DevicePolicy.detect("cpu", ram_budget_gb=8))


def _faces(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (50 + 7 * i, 44 + 5 * i, 3), dtype=np.uint8) for i in range(n)]


@pytest.mark.parametrize("name, layout, arch, size", [
    ("dfb-xception.pth", "deepfakebench-xception", "xception", 256),
    ("dfb-xception-dp.pth", "deepfakebench-xception", "xception", 256),
    ("dfb-effb4.pth", "deepfakebench-efficientnetb4", "efficientnet-b4", 256),
    ("sbi-effb4.tar", "sbi-efficientnetb4", "efficientnet-b4", 380),
])
def test_each_layout_loads_strictly_and_scores_in_unit_interval(
        library: DetectorLibrary, name: str, layout: str, arch: str, size: int) -> None:
    detector = library.load(name)
    assert (detector.spec.layout, detector.spec.arch, detector.spec.input_size) == (layout, arch, size)
    small = dataclasses.replace(detector, spec=dataclasses.replace(detector.spec, input_size=64))  # fast
    scores = small.probabilities(_faces())
    again = small.probabilities(_faces())
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert np.array_equal(scores, again)
    assert library.load(name) is detector  # second load is a cache hit


def test_library_lists_weight_files_and_refuses_paths_outside(library: DetectorLibrary) -> None:
    assert library.names() == ["dfb-effb4.pth", "dfb-xception-dp.pth", "dfb-xception.pth", "sbi-effb4.tar"]
    with pytest.raises(LookupError, match="available: dfb-effb4.pth"):
        library.load("../secrets.pth")
    with pytest.raises(LookupError):
        library.load("README.md")


def _loaded(path: Path) -> dict[str, torch.Tensor]:
    model, _ = load_network(path)
    return model.state_dict()


def test_keys_land_in_the_modules_they_name(detectors_dir: Path) -> None:
    """Same-shaped tensors could be swapped without a strict load noticing; check the roles."""
    source = torch.load(detectors_dir / "dfb-xception.pth", weights_only=True)
    ours = _loaded(detectors_dir / "dfb-xception.pth")
    pairs = {"backbone.block1.rep.3.conv1.weight": "blocks.0.units.1.conv.depthwise.weight",
             "backbone.block2.rep.5.running_mean": "blocks.1.units.1.bn.running_mean",
             "backbone.block12.rep.4.pointwise.weight": "blocks.11.units.1.conv.pointwise.weight",
             "backbone.block5.rep.8.weight": "blocks.4.units.2.bn.weight",
             "backbone.conv4.conv1.weight": "conv4.depthwise.weight",
             "backbone.last_linear.bias": "classifier.bias"}
    for theirs, mine in pairs.items():
        assert torch.equal(source[theirs], ours[mine]), (theirs, mine)
    sbi = torch.load(detectors_dir / "sbi-effb4.tar", weights_only=True)["model"]
    ours = _loaded(detectors_dir / "sbi-effb4.tar")
    pairs = {"net._blocks.5._bn0.weight": "blocks.5.expand_conv.bn.weight",
             "net._blocks.5._bn1.weight": "blocks.5.depthwise.bn.weight",
             "net._blocks.0._bn2.running_var": "blocks.0.project.bn.running_var",
             "net._bn1.bias": "head.bn.bias", "net._bn0.bias": "stem.bn.bias", "net._fc.weight": "classifier.weight"}
    for theirs, mine in pairs.items():
        assert torch.equal(sbi[theirs], ours[mine]), (theirs, mine)


@pytest.mark.slow  # builds the full-size EfficientNet-B7
def test_dfdc_winner_efficientnet_b7(tmp_path: Path) -> None:
    """B7 kept cheap: write, strict load, check block roles, one forward on a 64-px input."""
    path = fd.write_selimsef_efficientnet(tmp_path)
    model, spec = load_network(path)
    assert (spec.arch, spec.head, spec.layout) == ("efficientnet-b7", "sigmoid1", "dfdc-selimsef-efficientnet")
    assert _params(model) == 66_347_960 - 1000 * 2560 - 1000 + 2560 + 1  # ImageNet count, 1-logit head
    source = torch.load(path, weights_only=True)["state_dict"]
    ours = model.state_dict()
    # B7 stages repeat 4, 7, 7, 10, …: timm's blocks.2.1 is flat block 12.
    pairs = {"module.encoder.blocks.2.1.bn1.weight": "blocks.12.expand_conv.bn.weight",
             "module.encoder.blocks.2.1.bn2.weight": "blocks.12.depthwise.bn.weight",
             "module.encoder.blocks.0.3.bn2.weight": "blocks.3.project.bn.weight",
             "module.encoder.blocks.6.3.se.conv_expand.bias": "blocks.54.se.expand.bias",
             "module.fc.weight": "classifier.weight"}
    for theirs, mine in pairs.items():
        assert torch.equal(source[theirs], ours[mine]), (theirs, mine)
    with torch.no_grad():
        out = torch.sigmoid(model(torch.rand(1, 3, 64, 64)))
    assert 0.0 <= float(out) <= 1.0


def test_sidecar_overrides_and_rejects_unknown_fields(tmp_path: Path) -> None:
    path = fd.write_deepfakebench_xception(tmp_path, "x")
    (tmp_path / "x.json").write_text(json.dumps({"input_size": 299, "crop_scale": 1.5, "threshold": 0.7}))
    _, spec = load_network(path)
    assert (spec.input_size, spec.crop_scale, spec.threshold) == (299, 1.5, 0.7)
    (tmp_path / "x.json").write_text(json.dumps({"input_sise": 299}))
    with pytest.raises(ValueError, match="unknown detector field.*input_sise"):
        load_network(path)


def test_unknown_layout_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"layer1.0.conv1.weight": torch.zeros(2, 2, 3, 3)}, path)
    with pytest.raises(ValueError) as err:
        load_network(path)
    for name in ("deepfakebench-xception", "deepfakebench-efficientnetb4", "sbi-efficientnetb4",
                 "dfdc-selimsef-efficientnet"):
        assert name in str(err.value)


def test_extra_missing_or_misshapen_keys_fail_the_strict_load(tmp_path: Path) -> None:
    state = fd.random_state(fd.deepfakebench_xception_shapes(), 0, "backbone.")
    torch.save({**state, "backbone.block4.rep.9.weight": torch.ones(728)}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="do not belong.*block4.rep.9"):
        load_network(tmp_path / "extra.pth")
    missing = {k: v for k, v in state.items() if k != "backbone.block3.rep.2.running_var"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="(?s)do not fit.*blocks.2.units.0.bn.running_var"):
        load_network(tmp_path / "missing.pth")
    state["backbone.bn4.weight"] = torch.ones(1024)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match="(?s)do not fit.*bn4.weight"):
        load_network(tmp_path / "shape.pth")


class _Payload:
    pass


def test_pickles_that_need_code_are_refused_and_garbage_is_reported(tmp_path: Path) -> None:
    torch.save({"model": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="needs pickle code execution; refused for safety"):
        load_network(tmp_path / "evil.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_network(tmp_path / "junk.pth")
