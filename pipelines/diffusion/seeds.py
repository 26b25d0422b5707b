"""Seeds and initial noise, following A1111's conventions.

Noise is drawn on the CPU from one generator per image, so an image depends only on its own
seed: the same request and seed give the same pixels whatever the batch size or device.
"""

from __future__ import annotations

import random
from typing import Optional, Sequence

import torch

MAX_SEED = 4294967294


def resolve_seed(seed: Optional[int], rng: Optional[random.Random] = None) -> int:
    """``-1`` / None → a fresh random seed (A1111's range), anything else unchanged."""
    if seed is None or int(seed) == -1:
        return (rng or random).randrange(MAX_SEED)
    return int(seed)


def batch_seeds(seed: int, count: int) -> list[int]:
    """Image i of a job uses seed + i (A1111)."""
    return [seed + i for i in range(count)]


def slerp(t: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noise tensors, keeping their Gaussian norm."""
    a, b = low.flatten().double(), high.flatten().double()
    cos = torch.dot(a, b) / (a.norm() * b.norm())
    if cos.abs() > 0.9995:
        return (1.0 - t) * low + t * high
    omega = torch.acos(cos.clamp(-1.0, 1.0))
    so = torch.sin(omega)
    mixed = (torch.sin((1.0 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return mixed.reshape(low.shape).to(low.dtype)


def _randn(shape: Sequence[int], seed: int) -> torch.Tensor:
    generator = torch.Generator("cpu").manual_seed(int(seed))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)


def image_noise(
    shape: Sequence[int],
    seed: int,
    subseed: int = 0,
    subseed_strength: float = 0.0,
    resize_from: Optional[tuple[int, int]] = None,
) -> torch.Tensor:
    """Latent noise (C, H, W) for one image.

    ``subseed_strength`` blends in a variation seed; ``resize_from`` (latent h, w) makes the
    noise of another size and centres it, so a seed keeps its composition when resizing.
    """
    channels, height, width = shape
    src_shape = (channels, *resize_from) if resize_from else tuple(shape)
    noise = _randn(src_shape, seed)
    if subseed_strength > 0:
        noise = slerp(subseed_strength, noise, _randn(src_shape, subseed))
    if resize_from is None or src_shape == tuple(shape):
        return noise
    out = _randn(shape, seed)
    src_h, src_w = resize_from
    dy, dx = (height - src_h) // 2, (width - src_w) // 2
    h, w = min(height, src_h), min(width, src_w)
    ty, tx = max(dy, 0), max(dx, 0)
    sy, sx = max(-dy, 0), max(-dx, 0)
    out[:, ty:ty + h, tx:tx + w] = noise[:, sy:sy + h, sx:sx + w]
    return out


def batch_noise(
    shape: Sequence[int],
    seeds: Sequence[int],
    subseeds: Sequence[int],
    subseed_strength: float = 0.0,
    resize_from: Optional[tuple[int, int]] = None,
) -> torch.Tensor:
    """Noise for a batch, (B, C, H, W), one independent generator per image."""
    return torch.stack(
        [image_noise(shape, s, sub, subseed_strength, resize_from) for s, sub in zip(seeds, subseeds)]
    )


def step_generators(seeds: Sequence[int], delta: int = 0) -> list[torch.Generator]:
    """Per-image CPU generators for the sampler's own noise (ancestral / SDE samplers); a
    ``delta`` (A1111's eta_noise_seed_delta, "ENSD") seeds them with seed + delta."""
    return [torch.Generator("cpu").manual_seed(int(s) + (delta or 1)) for s in seeds]
