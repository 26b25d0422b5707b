"""Atelier's mark (version 2): a keyed noise tile repeated over the luminance, found again
after the sharing a picture goes through (JPEG, h264, brightness, crops, rescales, pastes).

Why this design (measured in ``bench/provenance.py``):

* **What is embedded**: a 128×128 tile of band-limited Gaussian noise (spatial frequencies
  0.04–0.18 cycles/pixel, drawn from a fixed key), repeated over the whole image and added to
  the luminance (R, G and B alike), scaled by the local texture so it hides in detail. Mid
  frequencies survive JPEG q50 and h264 (which quantise high ones) and a 0.5× downscale
  (which folds nothing above 0.25 cycles/pixel); luminance is kept at full resolution by
  yuv420 and JPEG's chroma subsampling.
* **Nothing absolute is quantised**: the reader correlates with the key, and a correlation
  does not change when every level is shifted or scaled (brightness, contrast, yuv range
  conversion). The old mark quantised singular values and a +2 brightness change inverted it.
* **Synchronisation**: the repetition is its own template. Its power spectrum has peaks on a
  lattice of spacing 1/128 cycles/pixel; after a rescale by *s* the lattice spacing is
  1/(128 s), so a comb search over *s* finds the scale. After resampling by 1/s the image is
  folded modulo 128 (which makes any crop or paste offset a cyclic shift) and phase-correlated
  with the tile: the peak gives the offset and its height the evidence.
* **Decision**: the height of the correlation peak in standard deviations of the whole
  correlation surface (z). With the surface's values close to Gaussian under "no mark", the
  chance that any of the ``hypotheses`` (offsets × scales tried) reaches z by luck is bounded
  by ``hypotheses · Q(z)`` (Bonferroni); the mark counts as found when that bound is below
  ``FALSE_ALARM`` (1e-6), and the bench checks the rate on ≥1,000 clean crops.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
from PIL import Image

TILE = 128
BAND = (0.04, 0.18)  # cycles per pixel at the embedding scale
KEY = b"atelier-mark-2"
STRENGTH = 2.0  # luminance levels RMS where texture is average (PSNR ~40 dB on photos)
MASK_RANGE = (0.35, 1.6)  # texture masking: flat areas get less, busy ones more
SCALES = (0.4, 2.6)  # rescales the reader searches
FALSE_ALARM = 1e-6  # Bonferroni bound on P(found | unmarked image)
MIN_SIDE = TILE  # at the embedding scale: at least one whole tile
_COMB_STEP = 0.002  # relative step of the scale search
_CANDIDATES = 3  # comb peaks checked by correlation
_REFINE = (-0.006, -0.003, 0.0, 0.003, 0.006)  # relative scale refinement around each
_FOLD_TILES = 4  # fold at most this many tiles per side (tolerance to a residual scale error)


@lru_cache(maxsize=1)
def tile() -> np.ndarray:
    """The keyed 128×128 pattern, zero mean, unit RMS, energy only inside ``BAND``."""
    seed = int.from_bytes(hashlib.sha256(KEY).digest()[:8], "big")
    noise = np.random.default_rng(seed).standard_normal((TILE, TILE))
    spectrum = np.fft.fft2(noise) * _band_mask(TILE)
    pattern = np.real(np.fft.ifft2(spectrum))
    return pattern / pattern.std()


@lru_cache(maxsize=4)
def _band_mask(size: int) -> np.ndarray:
    f = np.fft.fftfreq(size)
    radius = np.hypot(f[:, None], f[None, :])
    return ((radius >= BAND[0]) & (radius <= BAND[1])).astype(np.float64)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(plane, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def texture_mask(y: np.ndarray) -> np.ndarray:
    """Local contrast relative to the image's own (median) contrast, clipped to ``MASK_RANGE``;
    the reference is capped so a busy image (noise, foliage) gets the stronger mark it hides."""
    y = y.astype(np.float32)
    mean = _blur(y, 4.0)
    std = np.sqrt(np.maximum(_blur(y * y, 4.0) - mean * mean, 0.0))
    reference = min(max(float(np.median(std)), 2.0), 12.0)
    mask = np.clip(std / reference, *MASK_RANGE)
    return _blur(mask, 6.0)


def applies(image: Image.Image) -> bool:
    return min(image.size) >= MIN_SIDE


def embed(rgb: np.ndarray, strength: float = STRENGTH) -> np.ndarray:
    """``rgb`` float H×W×3 (0..255) with the tiled key added to the luminance (not rounded)."""
    height, width = rgb.shape[:2]
    reps = (-(-height // TILE), -(-width // TILE))
    pattern = np.tile(tile(), reps)[:height, :width].astype(np.float32)
    delta = strength * texture_mask(luma(rgb)) * pattern
    return rgb + delta[:, :, None]


# -- reading ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TiledReading:
    """The best correlation found: its z, scale and offset, and the false-alarm bound."""

    z: float
    scale: float
    offset: tuple[int, int]
    hypotheses: int
    false_alarm: float  # bound on the chance of a z this high on an unmarked image

    @property
    def found(self) -> bool:
        return self.false_alarm <= FALSE_ALARM


def false_alarm_bound(z: float, hypotheses: int) -> float:
    """Bonferroni bound on P(any of ``hypotheses`` Gaussian correlation values reaches ``z``)."""
    return min(1.0, hypotheses * 0.5 * math.erfc(z / math.sqrt(2.0)))


def _whitened_power(y: np.ndarray) -> np.ndarray:
    """|FFT|² of the windowed image divided by its local average: ~1 everywhere without a
    mark, peaks on the tile's lattice with one."""
    from scipy.ndimage import uniform_filter

    window = np.outer(np.hanning(y.shape[0]), np.hanning(y.shape[1]))
    power = np.abs(np.fft.fft2((y - y.mean()) * window)) ** 2
    local = uniform_filter(np.fft.fftshift(power), size=9, mode="wrap")
    return np.fft.ifftshift(np.fft.fftshift(power) / np.maximum(local, 1e-12))


@lru_cache(maxsize=1)
def _lattice() -> np.ndarray:
    """Half-plane lattice points (k, l) of the tile's spectrum that carry energy."""
    weights = np.abs(np.fft.fft2(tile())) ** 2
    k = np.fft.fftfreq(TILE, 1.0 / TILE).astype(int)
    kk, ll = np.meshgrid(k, k, indexing="ij")
    keep = (weights > 1e-9 * weights.max()) & ((kk > 0) | ((kk == 0) & (ll > 0)))
    return np.stack([kk[keep], ll[keep]], axis=1).astype(np.float64)


def comb_scores(y: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Mean whitened power on the lattice the tile would have at each rescale ``s``."""
    power = _whitened_power(y)
    rows, cols = power.shape
    lattice = _lattice()
    # lattice point (k, l) of a tile shown s times larger sits at frequency (k, l) / (TILE s)
    row_bins = lattice[None, :, 0] * rows / (TILE * scales[:, None])
    col_bins = lattice[None, :, 1] * cols / (TILE * scales[:, None])
    best = np.zeros(row_bins.shape)
    for dr in (0, 1):
        for dc in (0, 1):
            r = (np.floor(row_bins).astype(int) + dr) % rows
            c = (np.floor(col_bins).astype(int) + dc) % cols
            best = np.maximum(best, power[r, c])
    inside = (np.abs(row_bins) < rows / 2) & (np.abs(col_bins) < cols / 2)
    return np.where(inside, best, 0.0).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _candidate_scales(y: np.ndarray) -> list[float]:
    count = int(math.log(SCALES[1] / SCALES[0]) / math.log1p(_COMB_STEP)) + 1
    scales = SCALES[0] * (1 + _COMB_STEP) ** np.arange(count)
    scales = scales[np.minimum(y.shape[0], y.shape[1]) / scales >= MIN_SIDE]
    if not len(scales):
        return []
    scores = comb_scores(y, scales)
    peaks = [i for i in range(len(scores))
             if scores[i] >= scores[max(i - 1, 0)] and scores[i] >= scores[min(i + 1, len(scores) - 1)]]
    peaks.sort(key=lambda i: -scores[i])
    chosen = [float(scales[i]) for i in peaks[:_CANDIDATES]]
    if SCALES[0] <= 1.0 <= SCALES[1] and min(y.shape) >= MIN_SIDE:
        chosen.append(1.0)
    return chosen


def _fold(y: np.ndarray) -> np.ndarray:
    """The central (at most ``_FOLD_TILES``²) whole tiles of ``y`` summed into one."""
    tiles_r = min(y.shape[0] // TILE, _FOLD_TILES)
    tiles_c = min(y.shape[1] // TILE, _FOLD_TILES)
    r0 = (y.shape[0] - tiles_r * TILE) // 2
    c0 = (y.shape[1] - tiles_c * TILE) // 2
    window = y[r0:r0 + tiles_r * TILE, c0:c0 + tiles_c * TILE]
    folded = window.reshape(tiles_r, TILE, tiles_c, TILE).sum(axis=(0, 2))
    # the fold starts at (r0, c0): rotate so offsets refer to the image's own origin
    return np.roll(folded, (r0 % TILE, c0 % TILE), axis=(0, 1))


def correlate(y: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Phase correlation of the folded image with the tile: (z of the peak, its offset)."""
    spectrum = np.fft.fft2(_fold(y - y.mean()))
    key = np.fft.fft2(tile())
    cross = spectrum * np.conj(key) / np.maximum(np.abs(spectrum), 1e-9) * _band_mask(TILE)
    surface = np.real(np.fft.ifft2(cross))
    peak = int(np.argmax(surface))
    std = float(surface.std())
    return (float(surface.flat[peak]) / std if std > 0 else 0.0), (peak // TILE, peak % TILE)


def _rescaled(y: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-9:
        return y
    import cv2

    size = (max(1, round(y.shape[1] / scale)), max(1, round(y.shape[0] / scale)))
    return cv2.resize(y.astype(np.float32), size, interpolation=cv2.INTER_CUBIC).astype(np.float64)


def read(image: Image.Image) -> Optional[TiledReading]:
    """The strongest evidence of the mark in ``image`` (None when it is smaller than a tile)."""
    y = luma(np.asarray(image.convert("RGB"), dtype=np.float64))
    candidates = _candidate_scales(y)
    if not candidates:
        return None
    best: tuple[float, float, tuple[int, int]] = (-math.inf, 1.0, (0, 0))
    tried = 0
    for base in candidates:
        for step in _REFINE:
            scale = base * (1.0 + step)
            rescaled = _rescaled(y, scale)
            if min(rescaled.shape) < MIN_SIDE:
                continue
            z, offset = correlate(rescaled)
            tried += 1
            if z > best[0]:
                best = (z, scale, offset)
    hypotheses = tried * TILE * TILE
    z, scale, offset = best
    return TiledReading(z, scale, offset, hypotheses, false_alarm_bound(z, hypotheses))
