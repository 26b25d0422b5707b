"""A1111's "Extras" tab: upscale finished images, optionally blending a second upscaler.

Follows ``scripts/postprocessing_upscale.py`` of A1111 1.10: mode 0 scales by a factor,
mode 1 scales to cover a target size (and centre-crops to it with ``crop``); upscaler 2 is
blended over upscaler 1 at its visibility. The recipe goes in a ``postprocessing`` text
chunk beside the image's original ``parameters``, as A1111 saves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image

from pipelines.diffusion.infotext import format_params_line
from pipelines.extras.upscalers import NONE, UpscalerCatalog
from pipelines.faces.restoration import FaceRestoration
from pipelines.interrupts import StoppedInside
from pipelines.jobs import JobControl, JobInterrupted
from pipelines.outputs import OutputWriter, read_infotext

KIND = "extras"  # outputs/extras-images, A1111's folder name
RESTORER_FAMILIES = (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer"))
"""Extras fields and the restorer family each asks for (A1111's names; any restorer file serves)."""


@dataclass(frozen=True)
class ExtrasOptions:
    """A1111's ExtrasBaseRequest fields that change pixels."""

    resize_mode: int = 0  # 0: scale by upscaling_resize; 1: to upscaling_resize_w × _h
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = NONE
    upscaler_2: str = NONE
    extras_upscaler_2_visibility: float = 0.0
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0  # CodeFormer's fidelity (0 strongest restoration, 1 closest to the input)


@dataclass
class ExtrasResult:
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)  # the postprocessing line of each image
    paths: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _upscale_one(catalog: UpscalerCatalog, image: Image.Image, options: ExtrasOptions,
                 control: Optional[JobControl] = None) -> tuple[Image.Image, dict]:
    info: dict[str, object] = {}
    if options.upscaler_1 == NONE:
        return image, info  # A1111: no first upscaler, no upscaling at all
    if options.resize_mode == 1:
        width, height = options.upscaling_resize_w, options.upscaling_resize_h
        scale = max(width / image.width, height / image.height)
        info["Postprocess upscale to"] = f"{width}x{height}"
    else:
        scale = options.upscaling_resize
        info["Postprocess upscale by"] = scale
    info["Postprocess upscaler"] = catalog.find(options.upscaler_1).name
    result = catalog.upscale(image, options.upscaler_1, scale, control)
    if options.upscaler_2 != NONE and options.extras_upscaler_2_visibility > 0:
        second = catalog.upscale(image, options.upscaler_2, scale, control).resize(result.size)
        result = Image.blend(result.convert("RGB"), second.convert("RGB"), options.extras_upscaler_2_visibility)
        info["Postprocess upscaler 2"] = catalog.find(options.upscaler_2).name
    if options.resize_mode == 1 and options.upscaling_crop:
        cropped = Image.new("RGB", (width, height))
        cropped.paste(result, ((width - result.width) // 2, (height - result.height) // 2))
        result = cropped
        info["Postprocess crop to"] = f"{width}x{height}"
    return result, info


def _face_restorers(restoration: Optional[FaceRestoration], options: ExtrasOptions,
                    warnings: list[str]) -> list[tuple[str, str, float]]:
    """(family, restorer file, visibility) for each visibility above 0 that a file can serve."""
    chosen = []
    for key, family in RESTORER_FAMILIES:
        visibility = getattr(options, key)
        if visibility <= 0:
            continue
        model = restoration.model(family) if restoration is not None else None
        if model is None:
            warnings.append(restoration.unavailable(key) if restoration is not None
                            else f"{key}: face restoration is not set up; faces are not restored")
        else:
            chosen.append((family, model, visibility))
    return chosen


def run_extras(catalog: UpscalerCatalog, writer: OutputWriter, images: Sequence[tuple[str, Image.Image]],
               options: ExtrasOptions, *, save: bool, control: Optional[JobControl] = None,
               restoration: Optional[FaceRestoration] = None) -> ExtrasResult:
    """Post-process ``images`` (name, image): upscale, then restore faces (A1111's order);
    UnknownUpscalerError before any work is done."""
    for name in (options.upscaler_1, options.upscaler_2):
        catalog.find(name)
    control = control or JobControl()
    result = ExtrasResult()
    restorers = _face_restorers(restoration, options, result.warnings)
    control.start(len(images), 1, textinfo="extras")
    for index, (name, image) in enumerate(images):
        if control.interrupted.is_set():
            break
        try:
            upscaled, info = _upscale_one(catalog, image, options, control)
        except StoppedInside:  # interrupted inside the upscaler: this image is discarded
            break
        for family, model, visibility in restorers:
            if family == "CodeFormer":
                upscaled = restoration.restore(upscaled, model, visibility, fidelity=options.codeformer_weight)
            else:
                upscaled = restoration.restore(upscaled, model, visibility)
            info[f"{family} visibility"] = visibility
            if family == "CodeFormer":
                info["CodeFormer weight"] = options.codeformer_weight
            info[f"{family} model"] = model
        text = format_params_line(info)
        result.images.append(upscaled)
        result.infotexts.append(text)
        if save:
            metadata = {"postprocessing": text} if text else {}
            result.paths.append(writer.save_named(upscaled, KIND, Path(name).stem or "image",
                                                  infotext=read_infotext(image), metadata=metadata,
                                                  sources=[image]))
        control.step(index + 1)
    if not result.images and control.interrupted.is_set():
        raise JobInterrupted("extras: interrupted before any image was finished")
    return result
