"""A loaded detector: its network on the policy's device, its spec, and how it scores face crops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
from torch import nn

from pipelines.detect.gradcam import fake_logit, gradcam
from pipelines.detect.spec import DetectorSpec


def to_batch(crops: Sequence[np.ndarray], spec: DetectorSpec) -> torch.Tensor:
    """RGB uint8 crops resized to the spec's input size and normalised as the detector was trained."""
    size = spec.input_size
    arrays = [cv2.resize(np.ascontiguousarray(c), (size, size), interpolation=cv2.INTER_LINEAR) for c in crops]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    return (batch - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)


def verdict_text(score: float, threshold: float, basis: str, detector: str) -> str:
    """One wording of a verdict for pictures and videos."""
    label = "likely manipulated" if score >= threshold else "no manipulation detected"
    return f"{label} ({basis}; score {score:.2f}, threshold {threshold:.2f}, {detector})"


@dataclass
class Detector:
    """Scores RGB uint8 face crops as the probability that they are fake."""

    name: str
    model: nn.Module
    spec: DetectorSpec
    device: torch.device
    dtype: torch.dtype = torch.float32

    def tensor(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        return to_batch(crops, self.spec).to(self.device, self.dtype)

    def probabilities(self, crops: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """P(fake) per crop, in [0, 1]."""
        out: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, len(crops), batch_size):
                logits = self.model(self.tensor(crops[start:start + batch_size]))
                out.append(torch.sigmoid(fake_logit(logits).float()).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def explain(self, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(P(fake) per crop, Grad-CAM heat maps (N, size, size) in [0, 1])."""
        log_odds, heat = gradcam(self.model, self.tensor(crops))
        return torch.sigmoid(log_odds).cpu().numpy(), heat

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
