"""DeepFaceLab's training losses: DSSIM + MSE inside the face mask, the learned-mask loss, and the
eyes/mouth priority term."""

from __future__ import annotations

from typing import Optional

import torch
from torch.nn import functional as F


def _gaussian(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def dssim(a: torch.Tensor, b: torch.Tensor, kernel: int) -> torch.Tensor:
    """(1 - SSIM) / 2 with a Gaussian window of ``kernel`` pixels (DeepFaceLab uses resolution / 11.6)."""
    kernel = max(3, kernel | 1)
    window = _gaussian(kernel, 1.5, a.shape[1], a.device)
    groups = a.shape[1]
    mu_a = F.conv2d(a, window, groups=groups)
    mu_b = F.conv2d(b, window, groups=groups)
    var_a = F.conv2d(a * a, window, groups=groups) - mu_a ** 2
    var_b = F.conv2d(b * b, window, groups=groups) - mu_b ** 2
    cov = F.conv2d(a * b, window, groups=groups) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ((1 - ssim) / 2).mean()


def reconstruction(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, resolution: int,
                   parts: Optional[torch.Tensor] = None) -> torch.Tensor:
    """10·DSSIM + 10·MSE of the masked faces; eyes and mouth weighted 30× more when ``parts`` is given."""
    masked_pred, masked_target = pred * mask, target * mask
    loss = 10 * dssim(masked_pred, masked_target, int(resolution / 11.6)) + 10 * F.mse_loss(masked_pred, masked_target)
    if parts is not None:
        loss = loss + 30 * ((pred - target).abs() * parts).mean()
    return loss


def mask_loss(pred_mask: Optional[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    if pred_mask is None:
        return mask.new_zeros(())
    return 10 * F.mse_loss(pred_mask, mask)
