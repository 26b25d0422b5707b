"""Random-weight deepfake-detector checkpoints in the layouts their projects publish.

The key names and shapes here are generated from a description of each ORIGINAL module tree
(efficientnet_pytorch's block strings and attribute names, timm's per-stage blocks, DeepfakeBench's
``Block.rep`` list of ReLU / SeparableConv2d / BatchNorm), not from Atelier's loader or models, so
a renaming or architecture mistake in the loader makes the strict load in the tests fail.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import torch

Shapes = dict[str, tuple[int, ...]]

# efficientnet_pytorch / TF reference: block strings and (width, depth) per variant.
_BLOCK_STRINGS = ("r1_k3_s11_e1_i32_o16_se0.25", "r2_k3_s22_e6_i16_o24_se0.25", "r2_k5_s22_e6_i24_o40_se0.25",
                  "r3_k3_s22_e6_i40_o80_se0.25", "r3_k5_s11_e6_i80_o112_se0.25", "r4_k5_s22_e6_i112_o192_se0.25",
                  "r1_k3_s11_e6_i192_o320_se0.25")
_COEFFICIENTS = {"b0": (1.0, 1.0), "b4": (1.4, 1.8), "b7": (2.0, 3.1)}


def _filters(channels: int, width: float) -> int:
    scaled = channels * width
    out = max(8, int(scaled + 4) // 8 * 8)
    return out + 8 if out < 0.9 * scaled else out


def _reference_blocks(variant: str) -> Iterator[tuple[int, int, int, int, int, int, int]]:
    """(stage, index in stage, in, out, kernel, expand, squeezed) per block, from the block strings."""
    width, depth = _COEFFICIENTS[variant]
    for stage, text in enumerate(_BLOCK_STRINGS):
        opts = dict((part[0], part[1:]) if not part.startswith("se") else ("se", part[2:]) for part in text.split("_"))
        cin, cout = _filters(int(opts["i"]), width), _filters(int(opts["o"]), width)
        for index in range(int(math.ceil(depth * int(opts["r"])))):
            block_in = cin if index == 0 else cout
            yield stage, index, block_in, cout, int(opts["k"]), int(opts["e"]), max(1, int(block_in * float(opts["se"])))


def _bn(shapes: Shapes, name: str, channels: int) -> None:
    for param in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{name}.{param}"] = (channels,)
    shapes[f"{name}.num_batches_tracked"] = ()


def efficientnet_pytorch_shapes(variant: str, fc_outputs: int | None) -> Shapes:
    """``EfficientNet.from_name(...)`` state-dict names: _conv_stem, _blocks.N._depthwise_conv, …"""
    width, _ = _COEFFICIENTS[variant]
    stem = _filters(32, width)
    shapes: Shapes = {"_conv_stem.weight": (stem, 3, 3, 3)}
    _bn(shapes, "_bn0", stem)
    for n, (_, _, cin, cout, k, e, sq) in enumerate(_reference_blocks(variant)):
        p, mid = f"_blocks.{n}", cin * e
        if e != 1:
            shapes[f"{p}._expand_conv.weight"] = (mid, cin, 1, 1)
            _bn(shapes, f"{p}._bn0", mid)
        shapes[f"{p}._depthwise_conv.weight"] = (mid, 1, k, k)
        _bn(shapes, f"{p}._bn1", mid)
        shapes.update({f"{p}._se_reduce.weight": (sq, mid, 1, 1), f"{p}._se_reduce.bias": (sq,),
                       f"{p}._se_expand.weight": (mid, sq, 1, 1), f"{p}._se_expand.bias": (mid,),
                       f"{p}._project_conv.weight": (cout, mid, 1, 1)})
        _bn(shapes, f"{p}._bn2", cout)
    head = _filters(1280, width)
    shapes["_conv_head.weight"] = (head, _filters(320, width), 1, 1)
    _bn(shapes, "_bn1", head)
    if fc_outputs:
        shapes.update({"_fc.weight": (fc_outputs, head), "_fc.bias": (fc_outputs,)})
    return shapes


def timm_efficientnet_shapes(variant: str) -> Shapes:
    """timm ``tf_efficientnet_*`` names: blocks.<stage>.<i>.conv_pw / conv_dw / conv_pwl, se.conv_reduce, …"""
    width, _ = _COEFFICIENTS[variant]
    stem, head = _filters(32, width), _filters(1280, width)
    shapes: Shapes = {"conv_stem.weight": (stem, 3, 3, 3)}
    _bn(shapes, "bn1", stem)
    for stage, i, cin, cout, k, e, sq in _reference_blocks(variant):
        p, mid = f"blocks.{stage}.{i}", cin * e
        se = {f"{p}.se.conv_reduce.weight": (sq, mid, 1, 1), f"{p}.se.conv_reduce.bias": (sq,),
              f"{p}.se.conv_expand.weight": (mid, sq, 1, 1), f"{p}.se.conv_expand.bias": (mid,)}
        if e == 1:  # DepthwiseSeparableConv
            shapes[f"{p}.conv_dw.weight"] = (mid, 1, k, k)
            _bn(shapes, f"{p}.bn1", mid)
            shapes.update(se)
            shapes[f"{p}.conv_pw.weight"] = (cout, mid, 1, 1)
            _bn(shapes, f"{p}.bn2", cout)
        else:  # InvertedResidual
            shapes[f"{p}.conv_pw.weight"] = (mid, cin, 1, 1)
            _bn(shapes, f"{p}.bn1", mid)
            shapes[f"{p}.conv_dw.weight"] = (mid, 1, k, k)
            _bn(shapes, f"{p}.bn2", mid)
            shapes.update(se)
            shapes[f"{p}.conv_pwl.weight"] = (cout, mid, 1, 1)
            _bn(shapes, f"{p}.bn3", cout)
    shapes["conv_head.weight"] = (head, _filters(320, width), 1, 1)
    _bn(shapes, "bn2", head)
    shapes.update({"classifier.weight": (1000, head), "classifier.bias": (1000,)})
    return shapes


def deepfakebench_xception_shapes(dropout_head: bool = False) -> Shapes:
    """DeepfakeBench ``networks/xception.py``: Block.rep lists (ReLU, SeparableConv2d, BN) repeated,
    the leading ReLU dropped when ``start_with_relu=False``; ``adjust_channel`` always built."""
    shapes: Shapes = {"conv1.weight": (32, 3, 3, 3), "conv2.weight": (64, 32, 3, 3)}
    _bn(shapes, "bn1", 32)
    _bn(shapes, "bn2", 64)
    blocks = [(64, 128, 2, False, True), (128, 256, 2, True, True), (256, 728, 2, True, True)]
    blocks += [(728, 728, 3, True, True)] * 8 + [(728, 1024, 2, True, False)]
    for n, (cin, cout, reps, start_with_relu, grow_first) in enumerate(blocks, start=1):
        rep: list[tuple[str, int, int]] = []
        filters = cin
        if grow_first:
            rep += [("relu", 0, 0), ("sep", cin, cout), ("bn", cout, cout)]
            filters = cout
        for _ in range(reps - 1):
            rep += [("relu", 0, 0), ("sep", filters, filters), ("bn", filters, filters)]
        if not grow_first:
            rep += [("relu", 0, 0), ("sep", cin, cout), ("bn", cout, cout)]
        if not start_with_relu:
            rep = rep[1:]
        for pos, (kind, a, b) in enumerate(rep):
            if kind == "sep":
                shapes[f"block{n}.rep.{pos}.conv1.weight"] = (a, 1, 3, 3)
                shapes[f"block{n}.rep.{pos}.pointwise.weight"] = (b, a, 1, 1)
            elif kind == "bn":
                _bn(shapes, f"block{n}.rep.{pos}", b)
        if cin != cout or n in (1, 2, 3, 12):
            shapes[f"block{n}.skip.weight"] = (cout, cin, 1, 1)
            _bn(shapes, f"block{n}.skipbn", cout)
    shapes.update({"conv3.conv1.weight": (1024, 1, 3, 3), "conv3.pointwise.weight": (1536, 1024, 1, 1),
                   "conv4.conv1.weight": (1536, 1, 3, 3), "conv4.pointwise.weight": (2048, 1536, 1, 1)})
    _bn(shapes, "bn3", 1536)
    _bn(shapes, "bn4", 2048)
    head = "last_linear.1" if dropout_head else "last_linear"
    shapes.update({f"{head}.weight": (2, 2048), f"{head}.bias": (2,),
                   "adjust_channel.0.weight": (512, 2048, 1, 1), "adjust_channel.0.bias": (512,)})
    _bn(shapes, "adjust_channel.1", 512)
    return shapes


def random_state(shapes: Shapes, seed: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """He-scaled conv/linear weights and near-identity BN statistics, so activations stay finite."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            t = torch.tensor(100, dtype=torch.long)
        elif leaf == "running_var":
            t = 1.0 + 0.1 * torch.rand(shape, generator=gen)
        elif leaf in ("running_mean", "bias"):
            t = 0.05 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:  # BN gamma
            t = 1.0 + 0.05 * torch.randn(shape, generator=gen)
        else:
            fan_in = math.prod(shape[1:])
            t = torch.randn(shape, generator=gen) * math.sqrt(1.0 / fan_in)
        state[prefix + name] = t.contiguous()
    return state


def write_deepfakebench_xception(folder: Path, name: str = "dfb-xception", seed: int = 0,
                                 data_parallel: bool = False) -> Path:
    state = random_state(deepfakebench_xception_shapes(), seed, "module.backbone." if data_parallel else "backbone.")
    path = folder / f"{name}.pth"
    torch.save(state, path)
    return path


def write_deepfakebench_efficientnetb4(folder: Path, name: str = "dfb-effb4", seed: int = 1) -> Path:
    shapes = {f"efficientnet.{k}": v for k, v in efficientnet_pytorch_shapes("b4", None).items()}
    shapes["efficientnet._conv_stem.weight"] = (48, 3, 3, 3)  # DeepfakeBench's replaced, unpadded stem
    shapes.update({"last_layer.weight": (2, 1792), "last_layer.bias": (2,)})
    path = folder / f"{name}.pth"
    torch.save(random_state(shapes, seed, "backbone."), path)
    return path


def write_sbi_efficientnetb4(folder: Path, name: str = "sbi-effb4", seed: int = 2) -> Path:
    """SBI's training checkpoint: {'model': Detector().state_dict() (net.*), 'optimizer': …, 'epoch': …}."""
    model = random_state(efficientnet_pytorch_shapes("b4", 2), seed, "net.")
    optimizer = {"state": {}, "param_groups": [{"lr": 0.001, "momentum": 0.9, "params": [0, 1]}]}
    path = folder / f"{name}.tar"
    torch.save({"model": model, "optimizer": optimizer, "epoch": 99}, path)
    return path


def write_selimsef_efficientnet(folder: Path, variant: str = "b7", name: str = "final_111_DeepFakeClassifier",
                                seed: int = 3) -> Path:
    """DFDC winner: {'state_dict': DataParallel(DeepFakeClassifier).state_dict(), 'epoch', 'bce_best'}."""
    shapes = {f"encoder.{k}": v for k, v in timm_efficientnet_shapes(variant).items()}
    head = _filters(1280, _COEFFICIENTS[variant][0])
    shapes.update({"fc.weight": (1, head), "fc.bias": (1,)})
    path = folder / name  # the winner's files carry no extension
    torch.save({"state_dict": random_state(shapes, seed, "module."), "epoch": 40, "bce_best": 0.2}, path)
    return path
