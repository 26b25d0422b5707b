"""Pixel-side helpers for img2img and inpaint: A1111's resize modes, masks, paste-back."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from pipelines.diffusion.request import ResizeMode

LANCZOS = Image.Resampling.LANCZOS


def resize_image(image: Image.Image, width: int, height: int, mode: ResizeMode) -> Image.Image:
    """Fit ``image`` to ``width``×``height`` the way A1111's resize modes do."""
    image = image.convert("RGB")
    if mode in (ResizeMode.JUST_RESIZE, ResizeMode.LATENT_UPSCALE):
        return image.resize((width, height), LANCZOS)
    ratio, src_ratio = width / height, image.width / image.height
    if mode is ResizeMode.CROP_AND_RESIZE:
        scale = width / image.width if ratio > src_ratio else height / image.height
        resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), LANCZOS)
        left, top = (resized.width - width) // 2, (resized.height - height) // 2
        return resized.crop((left, top, left + width, top + height))
    # RESIZE_AND_FILL: fit inside, then fill the borders by stretching the edge pixels
    scale = width / image.width if ratio < src_ratio else height / image.height
    new_w, new_h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resized = image.resize((new_w, new_h), LANCZOS)
    canvas = Image.new("RGB", (width, height))
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas.paste(resized, (left, top))
    if top > 0:
        canvas.paste(resized.crop((0, 0, new_w, 1)).resize((new_w, top)), (left, 0))
        canvas.paste(resized.crop((0, new_h - 1, new_w, new_h)).resize((new_w, height - top - new_h)), (left, top + new_h))
    if left > 0:
        canvas.paste(canvas.crop((left, 0, left + 1, height)).resize((left, height)), (0, 0))
        canvas.paste(canvas.crop((left + new_w - 1, 0, left + new_w, height)).resize((width - left - new_w, height)), (left + new_w, 0))
    return canvas


def prepare_mask(mask: Image.Image, width: int, height: int, mode: ResizeMode, invert: bool, blur: int) -> Image.Image:
    """Greyscale mask at the target size: white = repaint. Blur softens the seam."""
    if mask.mode in ("RGBA", "LA"):
        # A1111 treats an RGBA mask's alpha as the drawn area
        alpha = np.asarray(mask.getchannel("A"))
        mask = Image.fromarray(np.where(alpha > 0, 255, 0).astype(np.uint8), "L") if alpha.min() < 255 else mask.convert("L")
    mask = mask.convert("L")
    if invert:
        mask = ImageOps.invert(mask)
    mask = resize_image(mask.convert("RGB"), width, height, mode).convert("L")
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return mask


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill": replace the masked area with colours smeared in from around it."""
    base = image.convert("RGB")
    hard = mask.point(lambda v: 255 if v > 127 else 0)
    filled = base.copy()
    for radius in (256, 64, 16, 4, 2, 1):
        blurred = filled.filter(ImageFilter.GaussianBlur(radius))
        filled = Image.composite(blurred, base, hard)
    return filled


def paste_back(original: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """Keep the original pixels outside the (blurred) mask exactly, as A1111's overlay does."""
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), mask.convert("L"))


def mask_bbox(mask: Image.Image, padding: int) -> Optional[tuple[int, int, int, int]]:
    """Bounding box of the painted area grown by ``padding`` and clamped to the image."""
    box = mask.point(lambda v: 255 if v > 0 else 0).getbbox()
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return max(0, x1 - padding), max(0, y1 - padding), min(mask.width, x2 + padding), min(mask.height, y2 + padding)


def expand_to_aspect(box: tuple[int, int, int, int], width: int, height: int,
                     image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Grow ``box`` to the aspect ratio ``width:height`` (inside the image where possible),
    so the "only masked" crop scales to the generation size without distortion."""
    x1, y1, x2, y2 = box
    img_w, img_h = image_size
    box_w, box_h = x2 - x1, y2 - y1
    target = width / height
    if box_w / box_h < target:
        box_w = min(img_w, round(box_h * target))
    else:
        box_h = min(img_h, round(box_w / target))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    nx1 = int(min(max(0, round(cx - box_w / 2)), img_w - box_w))
    ny1 = int(min(max(0, round(cy - box_h / 2)), img_h - box_h))
    return nx1, ny1, nx1 + box_w, ny1 + box_h


def crop_for_inpaint(images: list[Image.Image], mask: Image.Image, padding: int, width: int,
                     height: int) -> tuple[list[Image.Image], Image.Image, Optional[tuple[int, int, int, int]]]:
    """A1111's "Only masked": crop around the mask and scale the crop to the generation size."""
    box = mask_bbox(mask, padding)
    if box is None:
        return images, mask, None
    box = expand_to_aspect(box, width, height, mask.size)
    crops = [im.crop(box).resize((width, height), LANCZOS) for im in images]
    return crops, mask.crop(box).resize((width, height), LANCZOS), box


def uncrop(original: Image.Image, generated: Image.Image, box: Optional[tuple[int, int, int, int]]) -> Image.Image:
    """Put a generated crop back at its place in the original."""
    if box is None:
        return generated.resize(original.size, LANCZOS)
    canvas = original.convert("RGB").copy()
    canvas.paste(generated.convert("RGB").resize((box[2] - box[0], box[3] - box[1]), LANCZOS), box[:2])
    return canvas
