"""Typed generation requests with AUTOMATIC1111's field names and defaults.

The UI, the REST API and scripts all build one of these and hand it to the engine, so a
field means the same thing on every path.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from pipelines.diffusion.fields import FIELDS, MAX_SIDE, MIN_SIDE, request_definitions

# A1111's processing default when hires fix runs without an explicit denoising strength
HIRES_DEFAULT_DENOISING = 0.75


class ResizeMode(IntEnum):
    """A1111's four img2img resize modes."""

    JUST_RESIZE = 0
    CROP_AND_RESIZE = 1
    RESIZE_AND_FILL = 2
    LATENT_UPSCALE = 3  # "Just resize (latent upscale)"


_GenerationFields = create_model("_GenerationFields", __base__=BaseModel, __module__=__name__,
                                 **request_definitions(FIELDS))


class GenerationRequest(_GenerationFields):
    """Fields shared by txt2img and img2img: the simple ones come from
    :data:`pipelines.diffusion.fields.FIELDS`, those with more behaviour are declared here."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = Field(default_factory=list)
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    enable_hr: bool = False  # hires fix (txt2img)
    # Model / output overrides resolved by the engine
    checkpoint: Optional[str] = None
    save_images: bool = True
    restore_faces: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, description="Additional infotext entries")
    alwayson_scripts: dict[str, list[Any]] = Field(
        default_factory=dict, description="Always-on scripts to run: name → positional args (ctx.alwayson)")

    @field_validator("width", "height", "seed_resize_from_h", "seed_resize_from_w", mode="before")
    @classmethod
    def _int_side(cls, value: Any) -> Any:
        return int(value) if isinstance(value, float) and value.is_integer() else value

    def hires_size(self) -> tuple[int, int]:
        """The hires-fix pass's size: ``hr_resize_x/y`` (one may follow the aspect), else
        ``hr_scale`` times the first pass, rounded down to multiples of 8."""
        if self.hr_resize_x or self.hr_resize_y:
            w = self.hr_resize_x or round(self.width * self.hr_resize_y / self.height)
            h = self.hr_resize_y or round(self.height * self.hr_resize_x / self.width)
        else:
            w, h = round(self.width * self.hr_scale), round(self.height * self.hr_scale)
        return w // 8 * 8, h // 8 * 8

    def final_size(self) -> tuple[int, int]:
        """The size of the images this request makes (hires fix included)."""
        return self.hires_size() if self.enable_hr else (self.width, self.height)

    @model_validator(mode="after")
    def _check_size(self) -> "GenerationRequest":
        for name in ("width", "height"):
            value = getattr(self, name)
            if not MIN_SIDE <= value <= MAX_SIDE:
                raise ValueError(f"{name} must be between {MIN_SIDE} and {MAX_SIDE}, got {value}")
            if value % 8:
                raise ValueError(f"{name} must be a multiple of 8, got {value}")
        return self


class Txt2ImgRequest(GenerationRequest):
    """A txt2img job."""


_Img2ImgFields = create_model("_Img2ImgFields", __base__=GenerationRequest, __module__=__name__,
                              **request_definitions(FIELDS, img2img=True))


class Img2ImgRequest(_Img2ImgFields):
    """An img2img or inpaint job; images are PIL images, decoded by the caller."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    init_images: list[Any] = Field(default_factory=list)
    mask: Optional[Any] = None
    resize_mode: ResizeMode = ResizeMode.JUST_RESIZE

    def final_size(self) -> tuple[int, int]:
        """img2img has no hires pass: its images are ``width`` × ``height``."""
        return self.width, self.height

    @model_validator(mode="after")
    def _check_images(self) -> "Img2ImgRequest":
        if not self.init_images:
            raise ValueError("img2img needs an init image (init_images is empty)")
        return self
