"""Decoding untrusted image bytes (uploads, API payloads, files to inspect) in one place."""

from __future__ import annotations

import io
from typing import Callable, Optional

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 8192 * 8192
# What Pillow raises on bytes that are not a (complete, sane) image.
IMAGE_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class UnreadableImage(ValueError):
    """The bytes are not an image Atelier can use; the message says why, for people."""


def open_image_bytes(data: bytes, max_pixels: int = MAX_PIXELS,
                     admit: Optional[Callable[[int, int], None]] = None) -> Image.Image:
    """A loaded PIL image from file bytes (format and metadata kept in ``image.info``).

    The size is read from the header first: ``admit(width, height)`` may refuse it (raise)
    before a single pixel is decoded.
    """
    if not data:
        raise UnreadableImage("empty image data")
    try:
        image = Image.open(io.BytesIO(data))
    except IMAGE_DECODE_ERRORS as exc:
        raise _unreadable(exc) from exc
    if image.width * image.height > max_pixels:
        raise UnreadableImage(f"image too large ({image.width}x{image.height})")
    if admit is not None:
        admit(image.width, image.height)
    try:
        image.load()
    except IMAGE_DECODE_ERRORS as exc:
        raise _unreadable(exc) from exc
    return image


def _unreadable(exc: BaseException) -> UnreadableImage:
    return UnreadableImage(f"not a decodable image ({str(exc) or type(exc).__name__})")
