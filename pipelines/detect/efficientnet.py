"""EfficientNet-B0..B7 (Tan & Le 2019), written here because torchvision/timm cannot be used.

One implementation serves every published detector built on it: the compound-scaling table and
the MBConv + squeeze-excitation blocks are those of the TensorFlow reference, which both
``efficientnet_pytorch`` and timm's ``tf_efficientnet_*`` port. What differs between the ports is
only how TensorFlow's 'SAME' padding is reproduced, so that is a constructor choice:

- ``"dynamic"``: padding computed from each input's size (timm ``tf_`` models);
- ``"static"``: padding computed once for the variant's native resolution and reused for every
  input (``efficientnet_pytorch.EfficientNet.from_pretrained``);
- ``stem_padding="valid"``: an unpadded stem (DeepfakeBench replaces the stem with a plain conv).

Parameter names are Atelier's own; :mod:`pipelines.detect.layouts` maps each port's names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

Padding = Literal["dynamic", "static"]
StemPadding = Literal["same", "valid"]

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TensorFlow's decay 0.99


@dataclass(frozen=True)
class StageArgs:
    """One row of the B0 block table: repeats, kernel, stride, expansion, channels in/out."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int
    se_ratio: float = 0.25


B0_STAGES: tuple[StageArgs, ...] = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class Scaling:
    """Compound-scaling coefficients of one variant and its native resolution."""

    width: float
    depth: float
    resolution: int
    dropout: float


VARIANTS: dict[str, Scaling] = {
    "b0": Scaling(1.0, 1.0, 224, 0.2),
    "b1": Scaling(1.0, 1.1, 240, 0.2),
    "b2": Scaling(1.1, 1.2, 260, 0.3),
    "b3": Scaling(1.2, 1.4, 300, 0.3),
    "b4": Scaling(1.4, 1.8, 380, 0.4),
    "b5": Scaling(1.6, 2.2, 456, 0.4),
    "b6": Scaling(1.8, 2.6, 528, 0.5),
    "b7": Scaling(2.0, 3.1, 600, 0.5),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width``, rounded to a multiple of 8 never 10% below it."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TensorFlow's 'SAME' uses on one axis of length ``size``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding, computed per input or fixed for one input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False,
                 static_size: Optional[int] = None) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=bias)
        self.static_pads: Optional[tuple[int, int, int, int]] = None
        if static_size is not None:
            before, after = tf_same_pads(static_size, kernel, stride)
            self.static_pads = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.static_pads is not None:
            pads = self.static_pads
        else:
            k, s = self.kernel_size[0], self.stride[0]
            ph, pw = tf_same_pads(x.shape[-2], k, s), tf_same_pads(x.shape[-1], k, s)
            pads = (pw[0], pw[1], ph[0], ph[1])
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


class ConvBN(nn.Module):
    """Convolution + batch norm (+ swish); the unit every EfficientNet layer is built from."""

    def __init__(self, conv: nn.Conv2d, act: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm2d(conv.out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Channel attention: global pool → reduce (swish) → expand (sigmoid) → rescale."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(s))))


class MBConv(nn.Module):
    """Inverted residual: optional 1×1 expansion, depthwise conv, SE, linear 1×1 projection."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, se_ratio: float,
                 static_size: Optional[int]) -> None:
        super().__init__()
        mid = cin * expand
        self.expand_conv = (ConvBN(SameConv2d(cin, mid, 1, static_size=static_size)) if expand != 1 else None)
        self.depthwise = ConvBN(SameConv2d(mid, mid, kernel, stride, groups=mid, static_size=static_size))
        self.se = SqueezeExcite(mid, max(1, int(cin * se_ratio)))
        out_size = None if static_size is None else -(-static_size // stride)
        self.project = ConvBN(SameConv2d(mid, cout, 1, static_size=out_size), act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand_conv(x) if self.expand_conv is not None else x
        y = self.project(self.se(self.depthwise(y)))
        return y + x if self.residual else y


class EfficientNet(nn.Module):
    """A scaled EfficientNet with a ``num_outputs`` linear head (1: sigmoid, 2: softmax)."""

    def __init__(self, variant: str = "b4", num_outputs: int = 2, padding: Padding = "dynamic",
                 stem_padding: StemPadding = "same") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet variant {variant!r}; known: {', '.join(VARIANTS)}")
        scale = VARIANTS[variant]
        self.variant, self.padding, self.stem_padding = variant, padding, stem_padding
        size: Optional[int] = scale.resolution if padding == "static" else None
        stem_out = round_filters(32, scale.width)
        if stem_padding == "valid":
            stem_conv: nn.Conv2d = nn.Conv2d(3, stem_out, 3, stride=2, bias=False)
        else:
            stem_conv = SameConv2d(3, stem_out, 3, stride=2, static_size=size)
        self.stem = ConvBN(stem_conv)
        size = None if size is None else -(-size // 2)
        blocks: list[MBConv] = []
        self.block_stages: list[int] = []
        for stage_index, stage in enumerate(B0_STAGES):
            cin = round_filters(stage.channels_in, scale.width)
            cout = round_filters(stage.channels_out, scale.width)
            for i in range(round_repeats(stage.repeats, scale.depth)):
                stride = stage.stride if i == 0 else 1
                blocks.append(MBConv(cin if i == 0 else cout, cout, stage.kernel, stride, stage.expand,
                                     stage.se_ratio, size))
                self.block_stages.append(stage_index)
                size = None if size is None else -(-size // stride)
        self.blocks = nn.Sequential(*blocks)
        head_out = round_filters(1280, scale.width)
        self.head = ConvBN(SameConv2d(round_filters(320, scale.width), head_out, 1, static_size=size))
        self.classifier = nn.Linear(head_out, num_outputs)
        self.dropout = nn.Dropout(scale.dropout)

    @property
    def native_resolution(self) -> int:
        return VARIANTS[self.variant].resolution

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map (Grad-CAM's target layer)."""
        return self.head(self.blocks(self.stem(x)))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(features, 1).flatten(1)
        return self.classifier(self.dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))
