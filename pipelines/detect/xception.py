"""Xception (Chollet 2017) as the FaceForensics++ baseline and DeepfakeBench use it.

That variant differs from Keras' Xception in small ways that matter for released weights: the
first two convolutions are unpadded, separable convolutions have no batch norm between the
depthwise and pointwise parts, the exit flow ends in two separable convolutions (1536, 2048) and
the classifier applies ReLU → global average pool → linear. Parameter names are Atelier's own;
:mod:`pipelines.detect.layouts` maps DeepfakeBench's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BlockArgs:
    """One residual block: channels, separable convs, stride, ReLU first, widen first."""

    channels_in: int
    channels_out: int
    units: int
    stride: int
    relu_first: bool = True
    grow_first: bool = True


ENTRY_MIDDLE_EXIT: tuple[BlockArgs, ...] = (
    BlockArgs(64, 128, 2, 2, relu_first=False),
    BlockArgs(128, 256, 2, 2),
    BlockArgs(256, 728, 2, 2),
    *(BlockArgs(728, 728, 3, 1) for _ in range(8)),
    BlockArgs(728, 1024, 2, 2, grow_first=False),
)


class SeparableConv(nn.Module):
    """Depthwise 3×3 then pointwise 1×1, no norm in between (as FaceForensics++ trained it)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class SeparableUnit(nn.Module):
    """(ReLU) → separable conv → batch norm."""

    def __init__(self, cin: int, cout: int, relu: bool) -> None:
        super().__init__()
        self.relu = relu
        self.conv = SeparableConv(cin, cout)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(F.relu(x) if self.relu else x))


class XceptionBlock(nn.Module):
    """Separable units (+ max-pool when strided) plus a 1×1 projected or identity shortcut."""

    def __init__(self, args: BlockArgs) -> None:
        super().__init__()
        widths = [args.channels_in]
        for i in range(args.units):
            widen = (i == 0) if args.grow_first else (i == args.units - 1)
            widths.append(args.channels_out if widen else widths[-1])
        self.units = nn.ModuleList(
            SeparableUnit(widths[i], widths[i + 1], relu=args.relu_first or i > 0) for i in range(args.units)
        )
        self.pool = nn.MaxPool2d(3, args.stride, 1) if args.stride != 1 else nn.Identity()
        self.shortcut = None
        if args.channels_in != args.channels_out or args.stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(args.channels_in, args.channels_out, 1, stride=args.stride, bias=False),
                nn.BatchNorm2d(args.channels_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for unit in self.units:
            y = unit(y)
        y = self.pool(y)
        return y + (self.shortcut(x) if self.shortcut is not None else x)


class Xception(nn.Module):
    """Xception with a ``num_outputs`` linear head (2: softmax real/fake, 1: sigmoid)."""

    native_resolution = 299

    def __init__(self, num_outputs: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.blocks = nn.Sequential(*(XceptionBlock(args) for args in ENTRY_MIDDLE_EXIT))
        self.conv3 = SeparableConv(1024, 1536)
        self.bn3 = nn.BatchNorm2d(1536)
        self.conv4 = SeparableConv(1536, 2048)
        self.bn4 = nn.BatchNorm2d(2048)
        self.classifier = nn.Linear(2048, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before the classifier's ReLU (Grad-CAM's target layer)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.blocks(x)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.bn4(self.conv4(x))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(F.relu(features), 1).flatten(1)
        return self.classifier(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))
