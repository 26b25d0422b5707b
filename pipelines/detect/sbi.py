"""Self-Blended Images (Shiohara & Yamasaki, CVPR 2022): pseudo-fakes from real faces only.

A face is blended with a slightly recoloured, resampled and shifted copy of itself through a soft,
randomly deformed mask over its landmark hull. The result carries the traces every face swap
leaves (a blending boundary, colour and resolution mismatch, small misalignment) without any
identity change, so a classifier trained on (real, self-blended) pairs learns those traces.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def hull_mask(shape: tuple[int, int], landmarks: Optional[np.ndarray]) -> np.ndarray:
    """Float mask (H, W) of the landmarks' convex hull; without landmarks, the ellipse a centred
    face crop holds (what tiny, pre-cropped faces give)."""
    h, w = shape
    mask = np.zeros((h, w), np.float32)
    if landmarks is not None and len(landmarks) >= 3:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1.0)
    else:
        cv2.ellipse(mask, (w // 2, int(h * 0.55)), (int(w * 0.34), int(h * 0.42)), 0, 0, 360, 1.0, -1)
    return mask


def _deform_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random erosion or dilation, then a blur: the soft, uneven edge of a real blend."""
    h, w = mask.shape
    k = max(1, int(min(h, w) * rng.uniform(0.02, 0.08)))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = max(0.5, min(h, w) * rng.uniform(0.02, 0.06))
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask / max(float(mask.max()), 1e-6)


def recolour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB shift, hue/saturation/value jitter, brightness/contrast: the source's different grade."""
    out = image.astype(np.float32)
    out += rng.uniform(-20, 20, 3)
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
    hsv[..., 1:] *= rng.uniform(0.85, 1.15, 2)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = (out - 128) * rng.uniform(0.9, 1.1) + 128 + rng.uniform(-12, 12)
    return np.clip(out, 0, 255).astype(np.uint8)


def _resample(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Down-and-up scaling or sharpening: the source's different resolution."""
    h, w = image.shape[:2]
    if rng.random() < 0.5:
        factor = rng.choice([2, 4])
        small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    blur = cv2.GaussianBlur(image, (0, 0), 1.0)
    return cv2.addWeighted(image, 1 + rng.uniform(0.2, 0.5), blur, -rng.uniform(0.2, 0.5), 0)


def _shift(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A small random translation and scale of source and mask together: the misalignment."""
    h, w = image.shape[:2]
    scale = rng.uniform(0.95, 1 / 0.95)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
    matrix[:, 2] += (rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.015, 0.015) * h)
    warp = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return cv2.warpAffine(image, matrix, (w, h), **warp), cv2.warpAffine(mask, matrix, (w, h), **warp)


def self_blend(image: np.ndarray, landmarks: Optional[np.ndarray], rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """(self-blended RGB uint8 image, the blend mask used) for one real face ``image``."""
    target = image.copy()
    source = image.copy()
    if rng.random() < 0.5:
        source = _resample(recolour(source, rng), rng)
    else:
        target = _resample(recolour(target, rng), rng)
    mask = hull_mask(image.shape[:2], landmarks)
    source, mask = _shift(source, mask, rng)
    mask = _deform_mask(mask, rng) * float(rng.choice(BLEND_RATIOS))
    blended = mask[..., None] * source.astype(np.float32) + (1 - mask[..., None]) * target.astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8), mask
