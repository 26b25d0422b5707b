"""ESRGAN's RRDBNet, written here so ESRGAN-family upscalers load without basicsr/spandrel
(both pull torchvision, which breaks this CPU torch; see OFFLINE-FACTS).

Three key layouts of the same network are read, all renamed to basicsr's names:

- basicsr / Real-ESRGAN (``RealESRGAN_x4plus.pth``): ``conv_first``, ``body.N.rdb1.conv1``,
  ``conv_body``, ``conv_up1``/``conv_up2``, ``conv_hr``, ``conv_last``; often wrapped in
  ``params_ema`` or ``params``. x2 models pixel-unshuffle the input first (12 input channels).
- ESRGAN "new" (the original repo's ``RRDB_ESRGAN_x4.pth``): ``RRDB_trunk.N.RDB1``,
  ``trunk_conv``, ``upconv1``, ``HRconv``.
- ESRGAN "old" (the sequential model most community ``4x_*.pth`` files use): ``model.0``,
  ``model.1.sub.N.RDB1.conv1.0``, ``model.1.sub.<nb>``, then one conv per ×2 upsample, HR, last.

Network size (features, growth, blocks, scale) is read from the tensor shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

_NEW_NAMES = (
    (re.compile(r"^RRDB_trunk\."), "body."), (re.compile(r"\.RDB(\d)\."), r".rdb\1."),
    (re.compile(r"^trunk_conv\."), "conv_body."), (re.compile(r"^upconv(\d)\."), r"conv_up\1."),
    (re.compile(r"^HRconv\."), "conv_hr."),
)
_OLD_BLOCK = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
_OLD_SEQUENTIAL = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")


class UnsupportedUpscalerModel(ValueError):
    """The file is not an RRDBNet in a layout this module reads; the message says why."""


class _DenseBlock(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        widths = [features + i * growth for i in range(5)]
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], growth, 3, 1, 1))
        self.conv5 = nn.Conv2d(widths[4], features, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for i in range(1, 5):
            outputs.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(outputs, 1)), 0.2))
        return self.conv5(torch.cat(outputs, 1)) * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (_DenseBlock(features, growth) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


@dataclass(frozen=True)
class RRDBShape:
    """Hyper-parameters read from a state dict."""

    in_channels: int
    out_channels: int
    features: int
    growth: int
    blocks: int
    upsamples: int  # ×2 nearest + conv stages
    unshuffle: int  # pixel-unshuffle factor of the input (Real-ESRGAN x2 / x1)

    @property
    def scale(self) -> int:
        return 2 ** self.upsamples // self.unshuffle


class RRDBNet(nn.Module):
    """RRDBNet with basicsr's parameter names."""

    def __init__(self, shape: RRDBShape) -> None:
        super().__init__()
        self.shape = shape
        self.conv_first = nn.Conv2d(shape.in_channels, shape.features, 3, 1, 1)
        self.body = nn.Sequential(*(_RRDB(shape.features, shape.growth) for _ in range(shape.blocks)))
        self.conv_body = nn.Conv2d(shape.features, shape.features, 3, 1, 1)
        for i in range(shape.upsamples):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(shape.features, shape.features, 3, 1, 1))
        self.conv_hr = nn.Conv2d(shape.features, shape.features, 3, 1, 1)
        self.conv_last = nn.Conv2d(shape.features, shape.out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shape.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.shape.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.shape.upsamples):
            up = getattr(self, f"conv_up{i + 1}")
            feat = F.leaky_relu(up(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def _unwrap(state: Mapping[str, object]) -> Mapping[str, object]:
    for key in ("params_ema", "params", "state_dict"):
        inner = state.get(key)
        if isinstance(inner, Mapping):
            return inner
    return state


def _from_old(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed: dict[str, torch.Tensor] = {}
    tail: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if m := _OLD_BLOCK.match(key):
            renamed[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif m := _OLD_TRUNK.match(key):
            renamed[f"conv_body.{m[2]}"] = value
        elif m := _OLD_SEQUENTIAL.match(key):
            tail.setdefault(int(m[1]), {})[m[2]] = value
    first = tail.pop(0, None)
    if first is None or len(tail) < 2:
        raise UnsupportedUpscalerModel("old ESRGAN layout without model.0 and the final convolutions")
    convs = [tail[i] for i in sorted(tail)]  # up convs…, HR conv, last conv
    names = [f"conv_up{i + 1}" for i in range(len(convs) - 2)] + ["conv_hr", "conv_last"]
    for name, params in zip(["conv_first", *names], [first, *convs]):
        for kind, value in params.items():
            renamed[f"{name}.{kind}"] = value
    return renamed


def to_basicsr_names(state: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Any of the three layouts → basicsr names; UnsupportedUpscalerModel otherwise."""
    tensors = {k: v for k, v in _unwrap(state).items() if isinstance(v, torch.Tensor)}
    if "conv_first.weight" in tensors and any(k.startswith("body.") for k in tensors):
        return tensors
    if any(k.startswith("RRDB_trunk.") for k in tensors):
        renamed = {}
        for key, value in tensors.items():
            for pattern, replacement in _NEW_NAMES:
                key = pattern.sub(replacement, key)
            renamed[key] = value
        return renamed
    if "model.0.weight" in tensors and any(k.startswith("model.1.sub.") for k in tensors):
        return _from_old(tensors)
    raise UnsupportedUpscalerModel(
        "not an ESRGAN/Real-ESRGAN RRDBNet (other architectures such as SwinIR, DAT or compact "
        "Real-ESRGAN models are not supported)"
    )


def infer_shape(state: Mapping[str, torch.Tensor]) -> RRDBShape:
    """Read the network size from basicsr-named tensors."""
    try:
        first, last = state["conv_first.weight"], state["conv_last.weight"]
        growth = state["body.0.rdb1.conv1.weight"].shape[0]
    except KeyError as exc:
        raise UnsupportedUpscalerModel(f"missing tensor {exc.args[0]}") from None
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    upsamples = len({k.split(".")[0] for k in state if k.startswith("conv_up")})
    in_channels, out_channels = first.shape[1], last.shape[0]
    unshuffle = {1: 1, 4: 2, 16: 4}.get(in_channels // max(out_channels, 1))
    if unshuffle is None or in_channels % out_channels:
        raise UnsupportedUpscalerModel(f"unexpected channels: {in_channels} in, {out_channels} out")
    return RRDBShape(in_channels, out_channels, first.shape[0], growth, blocks, upsamples, unshuffle)


def check_layout(state: Mapping[str, object]) -> tuple[dict[str, torch.Tensor], RRDBShape]:
    """``state`` renamed to basicsr names and its network size, after checking every tensor's
    name and shape against that network (works on meta tensors: nothing is loaded)."""
    tensors = to_basicsr_names(state)
    shape = infer_shape(tensors)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in RRDBNet(shape).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        raise UnsupportedUpscalerModel(f"weights do not fit an RRDBNet ({', '.join(wrong[:3])})")
    return tensors, shape


def build_rrdbnet(state: Mapping[str, object]) -> RRDBNet:
    """An RRDBNet with ``state``'s weights (any supported layout), in eval mode."""
    tensors, shape = check_layout(state)
    net = RRDBNet(shape)
    net.load_state_dict(tensors, strict=True)
    return net.eval().requires_grad_(False)
