"""DeepFaceLab's colour transfers: make a face's colours match a reference face's.

``rct`` Reinhard mean/std in LAB; ``lct`` linear (PCA) transfer of the colour covariance; ``mkl``
Monge–Kantorovich linear map; ``idt`` iterative distribution transfer (random rotations, 1-D
histogram matching); ``sot`` sliced optimal transport. Images are float32 RGB in 0..1; statistics
come from inside ``mask`` when one is given, and the whole image is changed.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional

import cv2
import numpy as np

ColourMode = Literal["none", "rct", "lct", "mkl", "idt", "sot"]
COLOUR_MODES: tuple[ColourMode, ...] = ("none", "rct", "lct", "mkl", "idt", "sot")
_EPS = 1e-5


def _pixels(image: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    flat = image.reshape(-1, 3)
    if mask is None:
        return flat
    inside = mask.reshape(-1) > 0.5
    return flat[inside] if inside.sum() >= 16 else flat


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, _EPS)
    return vectors @ np.diag(values ** (-0.5 if inverse else 0.5)) @ vectors.T


def rct(image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray] = None,
        ref_mask: Optional[np.ndarray] = None) -> np.ndarray:
    lab = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    ref = cv2.cvtColor(np.clip(reference, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    a, b = _pixels(lab, mask), _pixels(ref, ref_mask if ref_mask is not None else mask)
    scale = np.clip(b.std(0) / (a.std(0) + _EPS), 0.2, 5.0)
    out = (lab - a.mean(0)) * scale + b.mean(0)
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)


def _linear(image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray], ref_mask: Optional[np.ndarray],
            solve: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    a, b = _pixels(image, mask), _pixels(reference, ref_mask if ref_mask is not None else mask)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.cov((a - mu_a).T) + np.eye(3) * _EPS
    cov_b = np.cov((b - mu_b).T) + np.eye(3) * _EPS
    matrix = solve(cov_a, cov_b)
    out = (image.reshape(-1, 3) - mu_a) @ matrix.T + mu_b
    return np.clip(out.reshape(image.shape), 0, 1).astype(np.float32)


def lct(image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray] = None,
        ref_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """PCA mode: whiten with the image's covariance, colour with the reference's."""
    return _linear(image, reference, mask, ref_mask, lambda ca, cb: _sqrtm(cb) @ _sqrtm(ca, inverse=True))


def mkl(image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray] = None,
        ref_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """The linear map between the two Gaussians with the least transport (Pitié 2007)."""
    def solve(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        root_a, inv_root_a = _sqrtm(ca), _sqrtm(ca, inverse=True)
        return inv_root_a @ _sqrtm(root_a @ cb @ root_a) @ inv_root_a

    return _linear(image, reference, mask, ref_mask, solve)


def _random_rotations(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    out = []
    for _ in range(count):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        out.append(q * np.sign(np.diag(r)))
    return out


def _match_1d(values: np.ndarray, sample: np.ndarray, reference: np.ndarray, bins: int = 300) -> np.ndarray:
    """Move ``values`` so the ``sample`` distribution's quantiles land on the ``reference``'s."""
    low, high = min(sample.min(), reference.min()), max(sample.max(), reference.max())
    edges = np.linspace(low, high, bins + 1)
    cdf_s = np.cumsum(np.histogram(sample, edges)[0]).astype(np.float64)
    cdf_r = np.cumsum(np.histogram(reference, edges)[0]).astype(np.float64)
    cdf_s, cdf_r = cdf_s / max(cdf_s[-1], 1), cdf_r / max(cdf_r[-1], 1)
    centres = (edges[:-1] + edges[1:]) / 2
    mapped = np.interp(cdf_s, cdf_r, centres)
    return np.interp(values, centres, mapped)


def idt(image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray] = None,
        ref_mask: Optional[np.ndarray] = None, iterations: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flat = image.reshape(-1, 3).astype(np.float64)
    inside = None if mask is None else (mask.reshape(-1) > 0.5)
    ref = _pixels(reference, ref_mask if ref_mask is not None else mask).astype(np.float64)
    for rotation in _random_rotations(rng, iterations):
        rotated, ref_rot = flat @ rotation.T, ref @ rotation.T
        sample = rotated[inside] if inside is not None and inside.sum() >= 16 else rotated
        moved = np.stack([_match_1d(rotated[:, c], sample[:, c], ref_rot[:, c]) for c in range(3)], 1)
        flat = flat + (moved - rotated) @ rotation
    return np.clip(flat.reshape(image.shape), 0, 1).astype(np.float32)


def sot(image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray] = None,
        ref_mask: Optional[np.ndarray] = None, steps: int = 10, directions: int = 5, seed: int = 0) -> np.ndarray:
    """Sliced optimal transport: along random directions, move each sorted value towards the
    reference's value of the same rank."""
    rng = np.random.default_rng(seed)
    flat = image.reshape(-1, 3).astype(np.float64)
    inside = np.ones(len(flat), bool) if mask is None else (mask.reshape(-1) > 0.5)
    if inside.sum() < 16:
        inside[:] = True
    ref = _pixels(reference, ref_mask if ref_mask is not None else mask).astype(np.float64)
    for _ in range(steps):
        advect = np.zeros_like(flat)
        for _ in range(directions):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            proj = flat @ d
            sample = proj[inside]
            order = np.argsort(sample)
            quantiles = np.linspace(0, 1, len(sample))
            target = np.quantile(ref @ d, quantiles)
            shift = np.empty_like(sample)
            shift[order] = target - sample[order]
            # Pixels outside the mask move like the inside pixels with the nearest projection.
            moved = np.interp(proj, sample[order], shift[order])
            advect += moved[:, None] * d
        flat += advect / directions
    return np.clip(flat.reshape(image.shape), 0, 1).astype(np.float32)


_TRANSFERS = {"rct": rct, "lct": lct, "mkl": mkl, "idt": idt, "sot": sot}


def check_mode(mode: str) -> ColourMode:
    if mode not in COLOUR_MODES:
        raise ValueError(f"colour transfer {mode!r}: use one of {', '.join(COLOUR_MODES)}")
    return mode  # type: ignore[return-value]


def transfer(mode: str, image: np.ndarray, reference: np.ndarray, mask: Optional[np.ndarray] = None,
             ref_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """``image`` recoloured like ``reference`` (``none``: unchanged)."""
    if check_mode(mode) == "none":
        return image
    return _TRANSFERS[mode](image.astype(np.float32), reference.astype(np.float32), mask, ref_mask)
