"""Typed generation requests with AUTOMATIC1111's field names and defaults.

The UI, the REST API and scripts all build one of these and hand it to the engine, so a
field means the same thing on every path.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_SIDE = 4096
# A1111's processing default when hires fix runs without an explicit denoising strength
HIRES_DEFAULT_DENOISING = 0.75
MIN_SIDE = 64
# Seeds torch can take after A1111's "seed + i" per image (its generators accept 64-bit values)
SEED_MAX = 2**63 - 1


class ResizeMode(IntEnum):
    """A1111's four img2img resize modes."""

    JUST_RESIZE = 0
    CROP_AND_RESIZE = 1
    RESIZE_AND_FILL = 2
    LATENT_UPSCALE = 3  # "Just resize (latent upscale)"


class InpaintingFill(IntEnum):
    """A1111's "Masked content" choices."""

    FILL = 0
    ORIGINAL = 1
    LATENT_NOISE = 2
    LATENT_NOTHING = 3


class GenerationRequest(BaseModel):
    """Fields shared by txt2img and img2img."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = Field(default_factory=list)
    seed: int = Field(-1, ge=-1, le=SEED_MAX, description="-1: random")
    subseed: int = Field(-1, ge=-1, le=SEED_MAX, description="-1: random")
    subseed_strength: float = Field(0.0, ge=0.0, le=1.0)
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: int = Field(20, ge=1, le=500)
    cfg_scale: float = Field(7.0, ge=0.0, le=100.0)
    width: int = 512
    height: int = 512
    batch_size: int = Field(1, ge=1, le=64)
    n_iter: int = Field(1, ge=1, le=1000)
    denoising_strength: Optional[float] = Field(None, ge=0.0, le=1.0)
    clip_skip: int = Field(1, ge=1, le=12)
    # Sampler parameters (A1111's p.eta / s_churn / s_tmin / s_tmax / s_noise)
    eta: Optional[float] = Field(None, ge=0.0, le=10.0, description="None: the eta_ancestral / eta_ddim setting")
    s_churn: float = Field(0.0, ge=0.0, le=100.0)
    s_tmin: float = Field(0.0, ge=0.0)
    s_tmax: float = Field(0.0, ge=0.0, description="0: no upper limit (A1111)")
    s_noise: float = Field(1.0, ge=0.0, le=10.0)
    tiling: bool = Field(False, description="Seamless tiles: circular padding in the UNet and VAE")
    # Hires fix (txt2img)
    enable_hr: bool = False
    hr_scale: float = Field(2.0, ge=1.0, le=8.0)
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = Field(0, ge=0, le=500)
    hr_resize_x: int = Field(0, ge=0, le=MAX_SIDE)
    hr_resize_y: int = Field(0, ge=0, le=MAX_SIDE)
    hr_sampler_name: Optional[str] = Field(None, description="None / 'Use same sampler': the first pass's")
    hr_scheduler: Optional[str] = Field(None, description="None / 'Use same scheduler': the first pass's")
    hr_prompt: str = Field("", description="Empty: the prompt")
    hr_negative_prompt: str = Field("", description="Empty: the negative prompt")
    hr_cfg: Optional[float] = Field(None, ge=0.0, le=100.0, description="None: cfg_scale (Forge's Hires CFG Scale)")
    # SDXL refiner
    refiner_checkpoint: Optional[str] = None
    refiner_switch_at: Optional[float] = Field(None, gt=0.0, lt=1.0)
    # Model / output overrides resolved by the engine
    checkpoint: Optional[str] = None
    vae: Optional[str] = None
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


class Img2ImgRequest(GenerationRequest):
    """An img2img or inpaint job; images are PIL images, decoded by the caller."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    init_images: list[Any] = Field(default_factory=list)
    mask: Optional[Any] = None
    resize_mode: ResizeMode = ResizeMode.JUST_RESIZE
    denoising_strength: Optional[float] = Field(0.75, ge=0.0, le=1.0)
    mask_blur: int = Field(4, ge=0, le=64)
    inpainting_fill: InpaintingFill = InpaintingFill.ORIGINAL
    inpaint_full_res: bool = False
    inpaint_full_res_padding: int = Field(32, ge=0, le=256)
    inpainting_mask_invert: int = Field(0, ge=0, le=1)

    def final_size(self) -> tuple[int, int]:
        """img2img has no hires pass: its images are ``width`` × ``height``."""
        return self.width, self.height

    @model_validator(mode="after")
    def _check_images(self) -> "Img2ImgRequest":
        if not self.init_images:
            raise ValueError("img2img needs an init image (init_images is empty)")
        return self
