"""Decoding untrusted image bytes (uploads, API payloads, files to inspect) in one place."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 8192 * 8192
# What Pillow raises on bytes that are not a (complete, sane) image.
IMAGE_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class UnreadableImage(ValueError):
    """The bytes are not an image Atelier can use; the message says why, for people."""


def open_image_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A loaded PIL image from file bytes (format and metadata kept in ``image.info``)."""
    if not data:
        raise UnreadableImage("empty image data")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels:
            raise UnreadableImage(f"image too large ({image.width}x{image.height})")
        image.load()
    except UnreadableImage:
        raise
    except IMAGE_DECODE_ERRORS as exc:
        raise UnreadableImage(f"not a decodable image ({str(exc) or type(exc).__name__})") from exc
    return image
