"""Images over HTTP: base64 / data-URL in, base64 PNG (with infotext) out."""

from __future__ import annotations

import base64
import binascii
from typing import Mapping, Optional

from PIL import Image

from pipelines.imagefile import UnreadableImage, open_image_bytes
from pipelines.limits import InputBudget
from pipelines.outputs import encode_image


class ImageDecodeError(ValueError):
    """Client sent something that is not a decodable image; the message names the field."""


def _payload(data: str) -> str:
    """The base64 part of a bare string or of a ``data:image/png;base64,…`` URL."""
    data = data.strip()
    if data.startswith("data:"):
        return data.split(",", 1)[1] if "," in data else ""
    return data


def decode_base64(data: str, field: str) -> bytes:
    """The file bytes in a bare base64 string or a data URL (what a client uploaded)."""
    if not isinstance(data, str) or not data.strip():
        raise ImageDecodeError(f"{field}: empty image data")
    try:
        raw = base64.b64decode(_payload(data), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError(f"{field}: not valid base64 ({exc})") from exc
    if not raw:
        raise ImageDecodeError(f"{field}: not valid base64 (no data)")
    return raw


def open_image(raw: bytes, field: str, budget: Optional[InputBudget] = None) -> Image.Image:
    """Decode file bytes into a loaded PIL image, refusing oversized images (and, with the
    request's ``budget``, images past its count or pixel limit, before decoding them)."""
    admit = (lambda width, height: budget.admit(field, width, height)) if budget is not None else None
    try:
        return open_image_bytes(raw, admit=admit)
    except UnreadableImage as exc:
        raise ImageDecodeError(f"{field}: {exc}") from exc


def decode_image(data: str, field: str, budget: Optional[InputBudget] = None) -> Image.Image:
    """Decode a bare base64 string or a data URL into a loaded PIL image."""
    return open_image(decode_base64(data, field), field, budget)


def encode_png_base64(image: Image.Image, infotext: Optional[str],
                      metadata: Optional[Mapping[str, str]] = None) -> str:
    """PNG bytes as base64 text; the infotext goes in the ``parameters`` chunk like A1111,
    ``metadata`` in text chunks of their own (the Extras ``postprocessing`` recipe)."""
    data, _ = encode_image(image, "png", infotext, metadata or {})
    return base64.b64encode(data).decode("ascii")
