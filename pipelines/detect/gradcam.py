"""Grad-CAM (Selvaraju et al. 2017) over a detector's last feature map, and its colour overlay.

Only the classifier head is differentiated: the feature map is computed without gradients and
then made a leaf, so explaining a score costs one backbone pass plus a tiny backward.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn


def fake_logit(logits: torch.Tensor) -> torch.Tensor:
    """The log-odds of 'fake' for either head (two logits: l1 - l0; one logit: itself)."""
    return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits[:, 0]


def gradcam(model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """(fake log-odds per image, heat maps (N, H, W) in [0, 1] at the input's resolution)."""
    with torch.no_grad():
        features = model.features(batch)
    features = features.detach().requires_grad_(True)
    with torch.enable_grad():
        target = fake_logit(model.classify(features))
        (grads,) = torch.autograd.grad(target.sum(), features)
    weights = grads.float().mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * features.detach().float()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    return target.detach().float(), (cam / peak).cpu().numpy()


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """``heat`` (any size, 0..1) coloured with the jet map over the RGB uint8 ``image``."""
    h, w = image.shape[:2]
    heat = cv2.resize(heat.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)[:, :, ::-1]
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colour.astype(np.float32)
    return Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8))
