"""Cheap live previews: latents → RGB by a fixed linear map, no VAE decode.

The 4×3 factors are the widely used least-squares fits of each family's VAE (the "approx
cheap" preview of A1111 / ComfyUI); good enough to watch composition form, costing microseconds.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from pipelines.models.architecture import Architecture

_SD_FACTORS = torch.tensor([
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
])
_SDXL_FACTORS = torch.tensor([
    [0.3448, 0.4168, 0.4395],
    [-0.1953, -0.0290, 0.0250],
    [0.1074, 0.0886, -0.0163],
    [-0.3730, -0.2499, -0.2088],
])
_SDXL_BIAS = torch.tensor([0.1303, 0.1228, 0.1262])


def latents_to_preview(latents: torch.Tensor, arch: Architecture, index: int = 0) -> Image.Image:
    """An RGB preview (latent size ×8 would be the decoded size; this is ×1) of one image."""
    latent = latents[index, :4].detach().float().cpu()
    if arch.is_xl:
        rgb = torch.einsum("chw,cr->rhw", latent, _SDXL_FACTORS) + _SDXL_BIAS[:, None, None]
    else:
        rgb = torch.einsum("chw,cr->rhw", latent, _SD_FACTORS)
    return rgb_to_image(rgb)


def rgb_to_image(rgb: torch.Tensor) -> Image.Image:
    """A (3, H, W) tensor in [-1, 1] as an RGB image."""
    array = ((rgb.float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array), "RGB")
