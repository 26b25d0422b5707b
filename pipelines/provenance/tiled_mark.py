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
* **Synchronisation**: the repetition is its own template. The reader resamples the image by
  ``1/s`` for rescales ``s`` 4% apart (0.45–2.3×), cuts the central 4×4 tiles, and
  phase-correlates each with the key (a shift of the picture — crop, paste offset — is a cyclic
  shift of every tile). A residual rescale of up to ±2% shifts blocks far from the centre more
  than near ones, so each block's correlation surface is realigned for 11 residuals before they
  are summed: a fine scale search (0.4% steps) for the price of a coarse one.
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
SCALES = (0.45, 2.3)  # rescales the reader searches
FALSE_ALARM = 1e-6  # Bonferroni bound on P(found | unmarked image)
MIN_SIDE = TILE  # at the embedding scale: at least one whole tile
_COARSE_STEP = 0.04  # relative step between the rescales tried by resampling
_RESIDUALS = tuple(np.linspace(-0.02, 0.02, 11))  # finer rescales, by realigning blocks (step 0.4%)
_FOLD_TILES = 4  # at most this many tiles per side are correlated


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


def _block_spectra(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whitened cross-spectra with the key of the central (at most ``_FOLD_TILES``²) whole tiles
    of ``y`` (B, TILE, TILE//2+1), and each block's centre relative to the window's (B, 2)."""
    from scipy import fft

    tiles_r, tiles_c = min(y.shape[0] // TILE, _FOLD_TILES), min(y.shape[1] // TILE, _FOLD_TILES)
    r0, c0 = (y.shape[0] - tiles_r * TILE) // 2, (y.shape[1] - tiles_c * TILE) // 2
    window = y[r0:r0 + tiles_r * TILE, c0:c0 + tiles_c * TILE]
    blocks = window.reshape(tiles_r, TILE, tiles_c, TILE).swapaxes(1, 2).reshape(-1, TILE, TILE)
    spectrum = fft.rfft2(blocks - blocks.mean(axis=(1, 2), keepdims=True))
    key, band = _key_half_spectrum()
    cross = spectrum * key / np.maximum(np.abs(spectrum), 1e-9) * band
    rows, cols = np.meshgrid(np.arange(tiles_r) - (tiles_r - 1) / 2, np.arange(tiles_c) - (tiles_c - 1) / 2,
                             indexing="ij")
    return cross, np.stack([rows.ravel(), cols.ravel()], axis=1) * TILE


@lru_cache(maxsize=1)
def _key_half_spectrum() -> tuple[np.ndarray, np.ndarray]:
    """conj(rfft2(tile)) and the band mask on the same half-plane grid."""
    key = np.conj(np.fft.rfft2(tile()))
    f_rows, f_cols = np.fft.fftfreq(TILE)[:, None], np.fft.rfftfreq(TILE)[None, :]
    radius = np.hypot(f_rows, f_cols)
    return key, ((radius >= BAND[0]) & (radius <= BAND[1])).astype(np.float64)


def _aligned_surface(cross: np.ndarray, centres: np.ndarray, residual: float) -> np.ndarray:
    """The blocks' correlation surfaces summed after undoing the drift a residual rescale
    ``residual`` gives them (a block ``X`` pixels from the centre sees the tile shifted by
    ``X·r/(1+r)``), done as phase ramps on the spectra, so shifts need not be whole pixels."""
    from scipy import fft

    if residual:
        shift = -centres * (residual / (1.0 + residual))
        rows = np.exp(-2j * np.pi * shift[:, :1] * np.fft.fftfreq(TILE)[None, :])  # separable ramp
        cols = np.exp(-2j * np.pi * shift[:, 1:] * np.fft.rfftfreq(TILE)[None, :])
        total = np.einsum("bi,bij,bj->ij", rows, cross, cols)
    else:
        total = cross.sum(axis=0)
    return fft.irfft2(total, s=(TILE, TILE))


def _peak(surface: np.ndarray) -> tuple[float, tuple[int, int]]:
    peak = int(np.argmax(surface))
    std = float(surface.std())
    return (float(surface.flat[peak]) / std if std > 0 else 0.0), (peak // TILE, peak % TILE)


def correlate(y: np.ndarray) -> tuple[float, tuple[int, int]]:
    """z and offset of the tile in ``y`` at exactly its own scale (no search)."""
    cross, centres = _block_spectra(y)
    return _peak(_aligned_surface(cross, centres, 0.0))


def _window(y: np.ndarray, scale: float) -> np.ndarray:
    """The central part of ``y`` that becomes at most ``_FOLD_TILES``² tiles once rescaled by
    ``1/scale``, rescaled (only what is needed is resampled)."""
    side = int(math.ceil(_FOLD_TILES * TILE * scale)) + 2
    r0, c0 = max(0, (y.shape[0] - side) // 2), max(0, (y.shape[1] - side) // 2)
    return _rescaled(y[r0:r0 + side, c0:c0 + side], scale)


def _rescaled(y: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-9:
        return y
    import cv2

    size = (max(1, round(y.shape[1] / scale)), max(1, round(y.shape[0] / scale)))
    return cv2.resize(y.astype(np.float32), size, interpolation=cv2.INTER_CUBIC).astype(np.float64)


def coarse_scales(shape: tuple[int, int]) -> np.ndarray:
    """Rescales tried by resampling, ``_COARSE_STEP`` apart; finer ones come from block drift."""
    low = math.floor(math.log(SCALES[0]) / math.log1p(_COARSE_STEP))
    high = math.ceil(math.log(SCALES[1]) / math.log1p(_COARSE_STEP))
    scales = (1 + _COARSE_STEP) ** np.arange(low, high + 1)  # 1.0 (no rescale) is one of them
    return scales[min(shape) / scales >= MIN_SIDE]


def _central(image: Image.Image) -> Image.Image:
    """The middle of a large picture: all any rescale's window uses (a 50-megapixel upload is
    not converted to floating point whole)."""
    side = int(math.ceil(_FOLD_TILES * TILE * SCALES[1] * (1 + max(_RESIDUALS)))) + 8
    if image.width <= side and image.height <= side:
        return image
    left, top = max(0, (image.width - side) // 2), max(0, (image.height - side) // 2)
    return image.crop((left, top, left + min(side, image.width), top + min(side, image.height)))


def read(image: Image.Image) -> Optional[TiledReading]:
    """The strongest evidence of the mark in ``image`` over every rescale in ``SCALES`` and every
    offset (None when it is too small to hold one tile at any of them)."""
    y = luma(np.asarray(_central(image).convert("RGB"), dtype=np.float64))
    scales = coarse_scales(y.shape)
    if not len(scales):
        return None
    best: tuple[float, float, tuple[int, int]] = (-math.inf, 1.0, (0, 0))
    for base in scales:
        cross, centres = _block_spectra(_window(y, float(base)))
        residuals = _RESIDUALS if len(cross) > 1 else (0.0,)  # one block: no drift to undo
        for residual in residuals:
            z, offset = _peak(_aligned_surface(cross, centres, residual))
            if z > best[0]:
                best = (z, float(base) * (1.0 + residual), offset)
    hypotheses = len(scales) * len(_RESIDUALS) * TILE * TILE
    z, scale, offset = best
    return TiledReading(z, scale, offset, hypotheses, false_alarm_bound(z, hypotheses))
