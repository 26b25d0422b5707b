"""The checkpoint layouts people actually have, recognised by their keys and renamed to ours.

Each layout names the project that publishes it, one key that identifies it, the preprocessing
that project trained with (overridable by a sidecar ``<stem>.json``), and a renaming of every one
of its keys to Atelier's parameter names (:mod:`pipelines.detect.xception`,
:mod:`pipelines.detect.efficientnet`). Keys a layout carries but inference never uses (an
ImageNet head left inside an encoder, DeepfakeBench's unused ``adjust_channel``) are dropped by
name; any other key that does not map is an error, so a load is always strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import nn

from pipelines.detect.efficientnet import B0_STAGES, VARIANTS, round_filters, round_repeats
from pipelines.detect.spec import IMAGENET_MEAN, IMAGENET_STD
from pipelines.detect.xception import ENTRY_MIDDLE_EXIT

DROP = ""
"""What a renamer returns for a key the layout carries but inference does not use."""

Renamer = Callable[[str, nn.Module], Optional[str]]
"""Source key (prefix removed) → Atelier key, ``DROP``, or None when the key is not understood."""


@dataclass(frozen=True)
class Layout:
    """One published checkpoint format."""

    name: str
    source: str
    signature: str
    """A key (after unwrapping ``state_dict`` / ``model`` and removing ``module.``) only it has."""
    family: str
    """``xception`` or ``efficientnet``."""
    prefix: str
    rename: Renamer
    defaults: dict[str, Any] = field(default_factory=dict)
    classifier_key: str = ""
    """Pattern of the final linear weight's key (its rows tell softmax-2 from sigmoid-1)."""
    stem_key: str = ""
    """Key of the EfficientNet stem conv (its width and the block count tell B0..B7)."""
    block_pattern: str = ""
    """Pattern whose group 1 names one block; the number of distinct blocks tells B0..B7.
    These three keys are relative to ``prefix``."""

    def describe(self) -> str:
        return f"{self.name} ({self.source}; keys like '{self.signature}')"

    def infer_fields(self, state: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Architecture and head read from tensor shapes, before defaults and sidecar apply."""
        relative = {k.removeprefix(self.prefix): v for k, v in state.items() if k.startswith(self.prefix)}
        found: dict[str, Any] = {}
        head = [v for k, v in relative.items() if re.fullmatch(self.classifier_key, k)]
        if head:
            rows = head[0].shape[0]
            if rows not in (1, 2):
                raise ValueError(f"{self.name}: the classifier has {rows} outputs; a detector needs 1 or 2")
            found["head"] = "softmax2" if rows == 2 else "sigmoid1"
        if self.family == "xception":
            found["arch"] = "xception"
        else:
            width = relative[self.stem_key].shape[0]
            blocks = {m.group(1) for k in relative if (m := re.match(self.block_pattern, k))}
            found["arch"] = f"efficientnet-{efficientnet_variant(width, len(blocks))}"
        return found


def efficientnet_variant(stem_width: int, n_blocks: int) -> str:
    """The B0..B7 variant whose scaling gives this stem width and block count."""
    for name, scale in VARIANTS.items():
        if round_filters(32, scale.width) == stem_width and \
                sum(round_repeats(s.repeats, scale.depth) for s in B0_STAGES) == n_blocks:
            return name
    raise ValueError(f"no EfficientNet B0-B7 has a {stem_width}-channel stem and {n_blocks} blocks")


# --- efficientnet_pytorch names (DeepfakeBench, Self-Blended Images) -------------------------

_EFFPT_TOP = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn",
              "_fc": "classifier"}
_EFFPT_BLOCK = {"_expand_conv": "expand_conv.conv", "_bn0": "expand_conv.bn", "_depthwise_conv": "depthwise.conv",
                "_bn1": "depthwise.bn", "_se_reduce": "se.reduce", "_se_expand": "se.expand",
                "_project_conv": "project.conv", "_bn2": "project.bn"}


def rename_efficientnet_pytorch(key: str, model: nn.Module) -> Optional[str]:
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        part = _EFFPT_BLOCK.get(m.group(2))
        return f"blocks.{m.group(1)}.{part}.{m.group(3)}" if part else None
    module, _, param = key.partition(".")
    return f"{_EFFPT_TOP[module]}.{param}" if module in _EFFPT_TOP else None


def rename_deepfakebench_efficientnet(key: str, model: nn.Module) -> Optional[str]:
    if key.startswith("adjust_channel."):
        return DROP
    if key.startswith("last_layer."):
        return "classifier." + key.removeprefix("last_layer.")
    if key.startswith("efficientnet."):
        return rename_efficientnet_pytorch(key.removeprefix("efficientnet."), model)
    return None


# --- timm names (the DFDC winner's tf_efficientnet_b7_ns encoder) ----------------------------

_TIMM_EXPANDED = {"conv_pw": "expand_conv.conv", "bn1": "expand_conv.bn", "conv_dw": "depthwise.conv",
                  "bn2": "depthwise.bn", "conv_pwl": "project.conv", "bn3": "project.bn"}
_TIMM_DEPTHWISE_SEPARABLE = {"conv_dw": "depthwise.conv", "bn1": "depthwise.bn", "conv_pw": "project.conv",
                             "bn2": "project.bn"}
_TIMM_TOP = {"conv_stem": "stem.conv", "bn1": "stem.bn", "conv_head": "head.conv", "bn2": "head.bn"}


def rename_timm_efficientnet(key: str, model: nn.Module) -> Optional[str]:
    """timm numbers blocks per stage (``blocks.3.1``) and names convs by role, not position."""
    if key.startswith("classifier."):
        return DROP  # the encoder's own ImageNet head; the detector's is `fc`
    m = re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(.+)\.(\w+)", key)
    if m:
        stage, index, part, param = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        stages: list[int] = model.block_stages
        if stage not in stages or index >= stages.count(stage):
            return None
        flat = stages.index(stage) + index
        if part in ("se.conv_reduce", "se.conv_expand"):
            return f"blocks.{flat}.se.{part.removeprefix('se.conv_')}.{param}"
        has_expansion = model.blocks[flat].expand_conv is not None
        target = (_TIMM_EXPANDED if has_expansion else _TIMM_DEPTHWISE_SEPARABLE).get(part)
        return f"blocks.{flat}.{target}.{param}" if target else None
    module, _, param = key.partition(".")
    return f"{_TIMM_TOP[module]}.{param}" if module in _TIMM_TOP else None


def rename_selimsef(key: str, model: nn.Module) -> Optional[str]:
    if key.startswith("fc."):
        return "classifier." + key.removeprefix("fc.")
    if key.startswith("encoder."):
        return rename_timm_efficientnet(key.removeprefix("encoder."), model)
    return None


# --- DeepfakeBench / FaceForensics++ Xception -------------------------------------------------

_XCEPTION_SAME = {"conv1", "bn1", "conv2", "bn2", "bn3", "bn4"}


def rename_deepfakebench_xception(key: str, model: nn.Module) -> Optional[str]:
    """``blockN.rep.P`` holds ReLU / SeparableConv2d / BatchNorm in turn; P → our unit index."""
    if key.startswith("adjust_channel."):
        return DROP
    if m := re.fullmatch(r"last_linear(?:\.1)?\.(weight|bias)", key):
        return f"classifier.{m.group(1)}"
    if m := re.fullmatch(r"block(\d+)\.(skip|skipbn)\.(\w+)", key):
        n = int(m.group(1))
        return f"blocks.{n - 1}.shortcut.{0 if m.group(2) == 'skip' else 1}.{m.group(3)}" if 1 <= n <= 12 else None
    if m := re.fullmatch(r"block(\d+)\.rep\.(\d+)\.(.+)", key):
        n, position, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        if not 1 <= n <= len(ENTRY_MIDDLE_EXIT):
            return None
        offset = position - (1 if ENTRY_MIDDLE_EXIT[n - 1].relu_first else 0)
        unit, role = divmod(offset, 3)
        if role == 0 and rest in ("conv1.weight", "pointwise.weight"):
            return f"blocks.{n - 1}.units.{unit}.conv.{'depthwise' if rest == 'conv1.weight' else 'pointwise'}.weight"
        return f"blocks.{n - 1}.units.{unit}.bn.{rest}" if role == 1 else None
    if m := re.fullmatch(r"(conv3|conv4)\.(conv1|pointwise)\.weight", key):
        return f"{m.group(1)}.{'depthwise' if m.group(2) == 'conv1' else 'pointwise'}.weight"
    module = key.split(".", 1)[0]
    return key if module in _XCEPTION_SAME else None


def rename_atelier(key: str, model: nn.Module) -> Optional[str]:
    return key


_DEEPFAKEBENCH = {"input_size": 256, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "crop_scale": 1.3}

LAYOUTS: tuple[Layout, ...] = (
    Layout("deepfakebench-efficientnetb4", "DeepfakeBench efficientnetb4 .pth",
           "backbone.efficientnet._conv_stem.weight", "efficientnet", "backbone.",
           rename_deepfakebench_efficientnet,
           # DeepfakeBench swaps efficientnet_pytorch's stem for an unpadded Conv2d; the blocks keep
           # from_pretrained's static padding computed for 380 px.
           {**_DEEPFAKEBENCH, "padding": "static", "stem_padding": "valid"},
           classifier_key=r"last_layer\.weight", stem_key="efficientnet._conv_stem.weight",
           block_pattern=r"efficientnet\._blocks\.(\d+)\."),
    Layout("deepfakebench-xception", "DeepfakeBench xception .pth (FaceForensics++ Xception)",
           "backbone.block1.rep.0.conv1.weight", "xception", "backbone.", rename_deepfakebench_xception,
           dict(_DEEPFAKEBENCH), classifier_key=r"last_linear(?:\.1)?\.weight"),
    Layout("sbi-efficientnetb4", "Self-Blended Images EfficientNet-B4 (checkpoint['model'], net.*)",
           "net._conv_stem.weight", "efficientnet", "net.", rename_efficientnet_pytorch,
           # SBI feeds pixels / 255 with no mean/std; its test crop adds 1/8 of the box per side.
           {"input_size": 380, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "crop_scale": 1.25,
            "padding": "static"},
           classifier_key=r"_fc\.weight", stem_key="_conv_stem.weight", block_pattern=r"_blocks\.(\d+)\."),
    Layout("dfdc-selimsef-efficientnet", "DFDC winner (selimsef) DeepFakeClassifier, timm tf_efficientnet_*_ns",
           "encoder.conv_stem.weight", "efficientnet", "", rename_selimsef,
           # The winner crops the box plus a third of its size per side, ImageNet normalisation.
           {"input_size": 380, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_scale": 1.67, "padding": "dynamic"},
           classifier_key=r"fc\.weight", stem_key="encoder.conv_stem.weight",
           block_pattern=r"encoder\.blocks\.(\d+\.\d+)\."),
    Layout("efficientnet-pytorch", "bare efficientnet_pytorch state dict (_conv_stem, _blocks.N, _fc)",
           "_conv_stem.weight", "efficientnet", "", rename_efficientnet_pytorch,
           {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "padding": "static"},
           classifier_key=r"_fc\.weight", stem_key="_conv_stem.weight", block_pattern=r"_blocks\.(\d+)\."),
    Layout("atelier-efficientnet", "Atelier train-detector output (EfficientNet)", "stem.conv.weight",
           "efficientnet", "", rename_atelier, {}, classifier_key=r"classifier\.weight", stem_key="stem.conv.weight",
           block_pattern=r"blocks\.(\d+)\."),
    Layout("atelier-xception", "Atelier train-detector output (Xception)", "blocks.0.units.0.conv.depthwise.weight",
           "xception", "", rename_atelier, {}, classifier_key=r"classifier\.weight"),
)


def known_layouts() -> str:
    return "; ".join(layout.describe() for layout in LAYOUTS)


def identify(state: dict[str, torch.Tensor]) -> Layout:
    """The layout whose signature key the state dict has; a message listing them all if none."""
    for layout in LAYOUTS:
        if layout.signature in state:
            return layout
    sample = ", ".join(sorted(state)[:4]) or "no tensors"
    raise ValueError(f"unknown detector checkpoint layout (first keys: {sample}). Known layouts: {known_layouts()}")


def remap(state: dict[str, torch.Tensor], layout: Layout, model: nn.Module) -> dict[str, torch.Tensor]:
    """Every source tensor under its Atelier name; raises listing keys that do not map."""
    mapped: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for key, tensor in state.items():
        if not key.startswith(layout.prefix):
            unmapped.append(key)
            continue
        target = layout.rename(key.removeprefix(layout.prefix), model)
        if target is None:
            unmapped.append(key)
        elif target != DROP:
            mapped[target] = tensor
    if unmapped:
        raise ValueError(f"{layout.name}: {len(unmapped)} key(s) do not belong to this layout: "
                         f"{', '.join(sorted(unmapped)[:6])}")
    return mapped
