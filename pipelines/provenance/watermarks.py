"""Invisible watermarks: the SDXL-compatible mark and Atelier's own, written and read back.

* **Atelier (version 2, written)** — a keyed noise tile repeated over the luminance, read by
  correlation with a scale and offset search (``tiled_mark``): survives brightness and
  contrast changes, crops, rescales, pastes into a screenshot, JPEG q50 and h264.
* **SDXL** — the 48-bit message ``0xB3EC907BB19E`` that diffusers' SDXL pipeline writes with
  ``invisible-watermark``'s DWT-DCT method (chroma planes U and V). It is written exactly the
  way diffusers does (float BGR array, skipped under 256 px wide) so tools that look for
  Stability's mark find ours. It does not survive JPEG or h264 and costs ~0.26 s per 720p
  frame, so it is a setting (on for images, off for video frames by default).
* **Atelier version 1 (read only)** — what files written before version 2 carry: a 48-bit
  message in the luminance, the largest singular value of every 4×4 block of the Haar LL band
  quantised with step 24 (DWT-DCT-SVD, vectorised). Quantising an absolute value made it fail
  on a +2 brightness change or any crop; it is read so older outputs are still recognised
  (``WatermarkDecoder('bits', 48).decode(bgr, 'dwtDctSvd', scales=[ATELIER_SCALE, 0, 0])``
  reads it too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
import pywt
from PIL import Image

from pipelines.provenance import tiled_mark

SDXL_MESSAGE = 0xB3EC907BB19E
# first 48 bits of sha256(b"atelier-mark-1"): fixed, arbitrary, 28 ones / 20 zeros
ATELIER_MESSAGE = 0xD17C73CBB2D6
MESSAGE_BITS = 48
# Quantisation step of the singular value. 24 measured (bench/provenance.py): 46 dB PSNR,
# 48/48 bits after JPEG q75, and it leaves the SDXL mark readable (36 disturbs it: ~29/48).
ATELIER_SCALE = 24.0
_POWER_ITERATIONS = 12  # top singular value to ~1e-3 on real LL blocks (the step is 24)
SDXL_MIN_WIDTH = 256  # diffusers skips the mark under this width
MIN_PIXELS = 256 * 256  # below this the reference decoder refuses and too few blocks vote
# Stability's detect.py buckets for the SDXL mark (bits matching out of 48).
SDXL_BUCKETS = ((27, "no watermark detected"), (33, "partial match, cannot determine with certainty"),
                (35, "likely watermarked (0.02% of real images in Stability's test)"),
                (48, "very likely watermarked (no real image in Stability's test)"))
SDXL_FOUND_AT = 34  # "likely" or better
# Atelier's mark counts as found from 40/48 bits: chance of that on an unmarked image with
# independent bits is 1.7e-6 (binomial tail); measured unmarked images match 15-30.
ATELIER_FOUND_AT = 40


def message_bits(message: int) -> np.ndarray:
    """The 48 bits of ``message``, most significant first (diffusers' order)."""
    return np.array([int(b) for b in format(message, f"0{MESSAGE_BITS}b")], dtype=np.uint8)


@dataclass(frozen=True)
class MarkReading:
    """What reading one mark found: matching bits, the chance of that by luck, a verdict."""

    mark: str
    matched: Optional[int]  # None: not readable (image too small)
    total: int = MESSAGE_BITS
    found: bool = False
    confidence: float = 0.0  # 1 - P(a reading this strong by chance)
    detail: str = ""
    version: int = 0  # Atelier mark: 1 (bits, legacy) or 2 (tiled correlation); 0 for SDXL
    z: Optional[float] = None  # version 2: correlation peak in standard deviations


def chance_of_matches(matched: int, total: int = MESSAGE_BITS) -> float:
    """P(at least ``matched`` of ``total`` independent fair bits agree with a fixed message)."""
    return sum(math.comb(total, k) for k in range(matched, total + 1)) / 2.0 ** total


def readable(image: Image.Image) -> bool:
    return image.width * image.height >= MIN_PIXELS


# -- SDXL (invisible-watermark, exactly as diffusers) --------------------------------------
@lru_cache(maxsize=1)
def _sdxl_encoder():
    from imwatermark import WatermarkEncoder

    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", [int(b) for b in message_bits(SDXL_MESSAGE)])
    return encoder


def sdxl_applies(image: Image.Image) -> bool:
    """diffusers skips images under 256 px wide; the encoder itself refuses < 256² pixels."""
    return image.width >= SDXL_MIN_WIDTH and readable(image)


def embed_sdxl(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` float32 H×W×3 in 0..255 → marked float array (not yet rounded)."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return _sdxl_encoder().encode(bgr, "dwtDct")[:, :, ::-1]


def read_sdxl(image: Image.Image) -> MarkReading:
    """Count bits matching SDXL's message, decoding the BGR array like Stability's detect.py."""
    if not readable(image):
        return MarkReading("SDXL", None, detail=f"image too small to read ({image.width}x{image.height} < 256x256 pixels)")
    from imwatermark import WatermarkDecoder

    bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
    bits = np.asarray(WatermarkDecoder("bits", MESSAGE_BITS).decode(bgr, "dwtDct"), dtype=np.uint8)
    matched = int((bits == message_bits(SDXL_MESSAGE)).sum())
    bucket = next(text for limit, text in SDXL_BUCKETS if matched <= limit)
    return MarkReading("SDXL", matched, found=matched >= SDXL_FOUND_AT,
                       confidence=1.0 - chance_of_matches(matched), detail=f"{matched}/48 bits: {bucket}")


# -- Atelier version 1 (legacy; vectorised DWT-SVD in the luminance) --------------------------------
def _ll_blocks(luma: np.ndarray) -> tuple[np.ndarray, tuple, tuple[int, int]]:
    """Haar LL band of ``luma`` cut into 4×4 blocks (row-major, as the reference does)."""
    height, width = luma.shape[0] // 4 * 4, luma.shape[1] // 4 * 4
    ll, details = pywt.dwt2(luma[:height, :width].astype(np.float64), "haar")
    rows, cols = ll.shape[0] // 4, ll.shape[1] // 4
    blocks = ll[:rows * 4, :cols * 4].reshape(rows, 4, cols, 4).swapaxes(1, 2).reshape(-1, 4, 4)
    return blocks, (ll, details), (rows, cols)


def _top_singular(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest singular value and its vectors of every 4×4 block, by power iteration.

    4× faster than a batched SVD; the blocks of an image's LL band have a dominant first
    singular value (their mean), so a dozen iterations give it to ~1e-3. All-zero blocks get
    s = 0 and a fixed unit vector pair, which is all the embedding needs.
    """
    gram = np.einsum("nji,njk->nik", blocks, blocks)
    v = np.full(blocks.shape[:2], 0.5) + np.linspace(0.0, 0.01, 4)  # not orthogonal to a flat block
    for _ in range(_POWER_ITERATIONS):
        v = np.einsum("nij,nj->ni", gram, v)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    bv = np.einsum("nij,nj->ni", blocks, v)
    s = np.linalg.norm(bv, axis=1)
    zero = s < 1e-9
    v[zero] = 0.5
    u = np.where(zero[:, None], 0.5, bv / np.where(zero, 1.0, s)[:, None])
    return s, u, v


def embed_atelier_v1(rgb: np.ndarray, scale: float = ATELIER_SCALE) -> np.ndarray:
    """Quantise each LL block's top singular value to carry one bit; returns the float RGB.

    The luminance change is added to R, G and B alike, which leaves the chroma planes (and
    the SDXL mark in them) untouched except where a channel clips.
    """
    luma = tiled_mark.luma(rgb)
    blocks, (ll, details), (rows, cols) = _ll_blocks(luma)
    bits = np.resize(message_bits(ATELIER_MESSAGE), len(blocks)).astype(np.float64)
    s, u, v = _top_singular(blocks)
    target = (np.floor(s / scale) + 0.25 + 0.5 * bits) * scale
    marked = blocks + (target - s)[:, None, None] * u[:, :, None] * v[:, None, :]
    ll[:rows * 4, :cols * 4] = marked.reshape(rows, cols, 4, 4).swapaxes(1, 2).reshape(rows * 4, cols * 4)
    new_luma = pywt.idwt2((ll, details), "haar")
    delta = np.zeros(luma.shape, dtype=np.float32)
    height, width = new_luma.shape
    delta[:height, :width] = new_luma - luma[:height, :width]
    return rgb + delta[:, :, None]


def atelier_votes(image: Image.Image, scale: float = ATELIER_SCALE) -> np.ndarray:
    """Fraction of blocks voting 1 for each of the 48 bits."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    blocks, _, _ = _ll_blocks(tiled_mark.luma(rgb))
    top = _top_singular(blocks)[0]
    votes = (np.mod(top, scale) > scale * 0.5).astype(np.float64)
    index = np.arange(len(votes)) % MESSAGE_BITS
    return np.bincount(index, weights=votes, minlength=MESSAGE_BITS) / np.maximum(
        np.bincount(index, minlength=MESSAGE_BITS), 1)


def read_atelier_v1(image: Image.Image) -> MarkReading:
    """Bits of the version-1 message found in ``image`` and how unlikely that is by chance."""
    if not readable(image):
        return MarkReading("Atelier", None, detail=f"image too small to read ({image.width}x{image.height} < 256x256 pixels)")
    bits = (atelier_votes(image) > 0.5).astype(np.uint8)
    matched = int((bits == message_bits(ATELIER_MESSAGE)).sum())
    chance = chance_of_matches(matched)
    found = matched >= ATELIER_FOUND_AT
    verdict = "Atelier mark (version 1) found" if found else "no Atelier mark (version 1)"
    return MarkReading("Atelier", matched, found=found, confidence=1.0 - chance, version=1,
                       detail=f"{matched}/48 bits ({verdict}; chance by luck {chance:.1e})")


# -- Atelier version 2 (written) --------------------------------------------------------
def embed_atelier(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` float H×W×3 in 0..255 → with Atelier's tiled mark (not yet rounded)."""
    return tiled_mark.embed(rgb)


def read_atelier_v2(image: Image.Image) -> MarkReading:
    """The tiled mark's correlation peak in ``image`` and the bound on its chance by luck."""
    reading = tiled_mark.read(image)
    if reading is None:
        return MarkReading("Atelier", None, version=2,
                           detail=f"image too small to read ({image.width}x{image.height}; needs {tiled_mark.MIN_SIDE} px a side)")
    verdict = "Atelier mark found" if reading.found else "no Atelier mark"
    where = f" at scale {reading.scale:.3f}, offset {reading.offset}" if reading.found else ""
    return MarkReading("Atelier", None, found=reading.found, confidence=1.0 - reading.false_alarm, version=2,
                       z=reading.z, detail=f"correlation z = {reading.z:.1f}{where} ({verdict}; chance by luck "
                                           f"≤ {reading.false_alarm:.1e} over {reading.hypotheses:,} scale/offset tries)")


def read_atelier(image: Image.Image) -> MarkReading:
    """Atelier's mark in ``image``: version 2 (what is written now), else version 1 (older
    files); the version-2 reading when neither is found."""
    current = read_atelier_v2(image)
    if current.found or not readable(image):
        return current
    legacy = read_atelier_v1(image)
    return legacy if legacy.found else current


# -- both ----------------------------------------------------------------------------------
ATELIER_MARK = "atelier-2"  # the name in a record's ``marks`` (version 1 files say "atelier")


def apply_marks(image: Image.Image, sdxl: bool = True) -> tuple[Image.Image, tuple[str, ...]]:
    """``image`` with Atelier's mark and (when ``sdxl``) the SDXL-compatible one, each where
    the image is large enough for it, and the names of the marks applied."""
    applied = []
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    if sdxl and sdxl_applies(image):
        rgb = embed_sdxl(rgb)
        applied.append("sdxl")
    if tiled_mark.applies(image):
        rgb = embed_atelier(rgb)
        applied.append(ATELIER_MARK)
    if not applied:
        return image, ()
    out = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    if image.mode == "RGBA":
        out.putalpha(image.getchannel("A"))
    out.info.update(image.info)
    return out, tuple(applied)
