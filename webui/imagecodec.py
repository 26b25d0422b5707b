"""Images over HTTP: base64 / data-URL in, base64 PNG (with infotext) out."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Mapping, Optional

from PIL import Image, UnidentifiedImageError

from pipelines.outputs import encode_image

MAX_PIXELS = 8192 * 8192
# What Pillow raises on bytes that are not a (complete, sane) image.
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class ImageDecodeError(ValueError):
    """Client sent something that is not a decodable image; the message names the field."""


def _payload(data: str) -> str:
    """The base64 part of a bare string or of a ``data:image/png;base64,…`` URL."""
    data = data.strip()
    if data.startswith("data:"):
        return data.split(",", 1)[1] if "," in data else ""
    return data


def decode_image(data: str, field: str) -> Image.Image:
    """Decode a bare base64 string or a data URL into a loaded PIL image."""
    if not isinstance(data, str) or not data.strip():
        raise ImageDecodeError(f"{field}: empty image data")
    try:
        raw = base64.b64decode(_payload(data), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError(f"{field}: not valid base64 ({exc})") from exc
    if not raw:
        raise ImageDecodeError(f"{field}: not valid base64 (no data)")
    try:
        image = Image.open(io.BytesIO(raw))
        if image.width * image.height > MAX_PIXELS:
            raise ImageDecodeError(f"{field}: image too large ({image.width}x{image.height})")
        image.load()
    except ImageDecodeError:
        raise
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"{field}: not a decodable image ({str(exc) or type(exc).__name__})") from exc
    return image


def encode_png_base64(image: Image.Image, infotext: Optional[str],
                      metadata: Optional[Mapping[str, str]] = None) -> str:
    """PNG bytes as base64 text; the infotext goes in the ``parameters`` chunk like A1111,
    ``metadata`` in text chunks of their own (the Extras ``postprocessing`` recipe)."""
    data, _ = encode_image(image, "png", infotext, metadata or {})
    return base64.b64encode(data).decode("ascii")
