"""What a detector needs besides its weights: architecture, input size, normalisation, crop margin.

Published checkpoints rarely say how they were trained to see a face, so every known layout has
defaults (:mod:`pipelines.detect.layouts`) and a sidecar ``<stem>.json`` beside the file
overrides any field. Atelier's own detectors carry the same record in their safetensors metadata.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from torch import nn

Head = Literal["softmax2", "sigmoid1"]
ARCHES = ("xception",) + tuple(f"efficientnet-b{i}" for i in range(8))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DetectorSpec:
    """How to build a detector and feed it a face."""

    arch: str
    input_size: int
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    crop_scale: float = 1.3
    """Side of the square face crop as a multiple of the detected box's longer side."""
    head: Head = "softmax2"
    """``softmax2``: two logits, index 1 = fake; ``sigmoid1``: one logit, sigmoid = fake."""
    padding: Literal["dynamic", "static"] = "dynamic"
    stem_padding: Literal["same", "valid"] = "same"
    threshold: float = 0.5
    layout: str = "atelier"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"unknown detector architecture {self.arch!r}; known: {', '.join(ARCHES)}")
        if not 16 <= int(self.input_size) <= 1024:
            raise ValueError(f"input_size {self.input_size} out of range 16..1024")
        if self.crop_scale < 1.0:
            raise ValueError(f"crop_scale {self.crop_scale} must be ≥ 1 (the crop contains the face box)")
        if self.head not in ("softmax2", "sigmoid1"):
            raise ValueError(f"head {self.head!r} must be 'softmax2' or 'sigmoid1'")

    @property
    def num_outputs(self) -> int:
        return 2 if self.head == "softmax2" else 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data

    def with_overrides(self, overrides: dict[str, Any]) -> "DetectorSpec":
        """This spec with the fields a sidecar or metadata names (unknown fields are an error)."""
        known = {f.name for f in fields(self)} - {"extra"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown detector field(s) {unknown}; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return replace(self, **values)


def sidecar_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def read_sidecar(weights: Path) -> dict[str, Any]:
    """The overrides in ``<stem>.json`` beside ``weights`` ({} when there is none)."""
    path = sidecar_path(weights)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a JSON object of detector fields")
    return data


def build_model(spec: DetectorSpec) -> nn.Module:
    """An untrained network of the spec's architecture and head."""
    if spec.arch == "xception":
        from pipelines.detect.xception import Xception

        return Xception(spec.num_outputs)
    from pipelines.detect.efficientnet import EfficientNet

    return EfficientNet(spec.arch.removeprefix("efficientnet-"), spec.num_outputs, spec.padding, spec.stem_padding)
