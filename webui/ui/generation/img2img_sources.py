"""Which image and mask an img2img job uses, decided by the active sub-tab (A1111 semantics).

Plain functions over what Gradio hands the callbacks: PIL images, and the ImageEditor's
value (a dict with "background", "layers" and "composite"). No Gradio import.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
from PIL import Image

MODES = ("img2img", "sketch", "inpaint", "inpaint_upload", "batch")
# Form fields that only say where the image comes from; they never reach the request.
SOURCE_FIELDS = ("img2img_mode", "init_image", "sketch", "inpaint_editor", "inpaint_image", "inpaint_mask",
                 "batch_input_dir", "batch_output_dir", "batch_mask_dir")


class SourceError(ValueError):
    """The active sub-tab lacks what it needs; the message says what to do."""


def _part(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def flatten(image: Optional[Image.Image]) -> Optional[Image.Image]:
    """RGB, with transparent areas (an unpainted sketch canvas) shown as white."""
    if image is None:
        return None
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def editor_composite(value: Any) -> Optional[Image.Image]:
    """The picture an ImageEditor shows (background plus drawn layers), as RGB."""
    if value is None:
        return None
    composite = _part(value, "composite")
    return flatten(composite if composite is not None else _part(value, "background"))


def editor_mask(value: Any) -> Optional[Image.Image]:
    """White where any layer was painted, black elsewhere (L); None when nothing was painted."""
    layers = [layer for layer in (_part(value, "layers") or []) if layer is not None] if value is not None else []
    painted: Optional[np.ndarray] = None
    for layer in layers:
        rgba = np.asarray(layer.convert("RGBA"))
        hit = rgba[..., 3] > 0
        painted = hit if painted is None else (painted | hit)
    if painted is None or not painted.any():
        return None
    return Image.fromarray(np.where(painted, 255, 0).astype(np.uint8), "L")


def uploaded_mask(image: Optional[Image.Image]) -> Optional[Image.Image]:
    """An uploaded mask as L: its alpha channel when it has transparency, else its brightness."""
    if image is None:
        return None
    if image.mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")
        if alpha.getextrema()[0] < 255:
            return alpha
    return image.convert("L")


def pick_sources(mode: str, form: Mapping[str, Any]) -> tuple[Image.Image, Optional[Image.Image]]:
    """(init image, mask or None) for the sub-tab ``mode``; SourceError when something is missing."""
    if mode == "img2img":
        image = form.get("init_image")
        if image is None:
            raise SourceError("Upload an image to use img2img.")
        return flatten(image), None
    if mode == "sketch":
        image = editor_composite(form.get("sketch"))
        if image is None:
            raise SourceError("Upload or draw a sketch to use the Sketch tab.")
        return image, None
    if mode == "inpaint":
        editor = form.get("inpaint_editor")
        background = flatten(_part(editor, "background")) if editor is not None else None
        if background is None:
            raise SourceError("Upload an image to inpaint, then paint over the area to change.")
        mask = editor_mask(editor)
        if mask is None:
            raise SourceError("Paint over the area to change with the brush: the mask is empty.")
        if mask.size != background.size:
            mask = mask.resize(background.size, Image.Resampling.NEAREST)
        return background, mask
    if mode == "inpaint_upload":
        image, mask = form.get("inpaint_image"), uploaded_mask(form.get("inpaint_mask"))
        if image is None or mask is None:
            raise SourceError("Inpaint upload needs both an image and a mask (white = repaint).")
        return flatten(image), mask
    raise SourceError(f"unknown img2img mode {mode!r}; one of {', '.join(MODES)}")
