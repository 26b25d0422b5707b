"""Images over HTTP: base64 / data-URL in, base64 PNG (with infotext) out."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Optional

from PIL import Image, UnidentifiedImageError

from pipelines.outputs import encode_image

MAX_PIXELS = 8192 * 8192


class ImageDecodeError(ValueError):
    """Client sent something that is not a decodable image; the message names the field."""


def decode_image(data: str, field: str) -> Image.Image:
    """Decode a bare base64 string or a ``data:image/...;base64,`` URL."""
    if not isinstance(data, str) or not data.strip():
        raise ImageDecodeError(f"{field}: empty image data")
    payload = data.split(",", 1)[1] if data.strip().startswith("data:") else data
    try:
        raw = base64.b64decode(payload.strip(), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError(f"{field}: not valid base64 ({exc})") from exc
    try:
        image = Image.open(io.BytesIO(raw))
        if image.width * image.height > MAX_PIXELS:
            raise ImageDecodeError(f"{field}: image too large ({image.width}x{image.height})")
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"{field}: not a decodable image ({type(exc).__name__})") from exc
    return image


def encode_png_base64(image: Image.Image, infotext: Optional[str]) -> str:
    data, _ = encode_image(image, "png", infotext, {})
    return base64.b64encode(data).decode("ascii")
