"""Every simple generation field declared once, with what each layer needs to know about it.

A field's engine type, default and range, its A1111 wire default (where the API's differs
from the engine's, and why), its infotext key and how to read it back, and its UI label and
control live in one :class:`GenerationField`. The engine requests
(:mod:`pipelines.diffusion.request`), the A1111 API bodies (``webui/api/schemas.py``), the
infotext reader/writer (:mod:`pipelines.diffusion.infotext`) and the txt2img/img2img forms
(``webui/ui/generation``) are derived from :data:`FIELDS`, so adding a simple field is one
entry here. Fields with more behaviour than a value (prompt, sampler/scheduler names, images,
scripts) stay declared where that behaviour lives.

Adding a field (``tests/test_field_schema.py`` does exactly this with a test-only copy)::

    GenerationField("sharpness", float, 0.0, ge=0.0, le=2.0, infotext=("Sharpness",), parse=float,
                    written=True, label="Sharpness", control=Control("slider", 0.0, 2.0, 0.05)),

gives ``GenerationRequest.sharpness`` (range checked), ``Txt2ImgBody.sharpness`` (A1111 bodies
check no range), "Sharpness: …" in the infotext when it is not the default and back on paste,
and a slider in the forms' "More parameters" until a tab's layout places it. The engine
still has to *use* the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Iterable, Literal, Optional

from pydantic import Field

MAX_SIDE = 4096
MIN_SIDE = 64
# Seeds torch can take after A1111's "seed + i" per image (its generators accept 64-bit values)
SEED_MAX = 2**63 - 1


class InpaintingFill(IntEnum):
    """A1111's "Masked content" choices."""

    FILL = 0
    ORIGINAL = 1
    LATENT_NOISE = 2
    LATENT_NOTHING = 3


_SAME: Any = object()  # "the wire default is the engine default"
Scope = Literal["both", "hires", "img2img"]


@dataclass(frozen=True)
class Control:
    """A UI control, toolkit-free: ``webui`` turns it into a Gradio component."""

    kind: Literal["slider", "number"]
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[float] = None
    elem: Optional[str] = None  # elem_id suffix when it is not the field's name


@dataclass(frozen=True)
class GenerationField:
    """One request field and its metadata on every layer."""

    name: str  # the GenerationRequest attribute and the A1111 JSON key
    type: Any  # the engine's annotation (``Optional[float]`` …)
    default: Any  # the engine default (what the UI and scripts get)
    ge: Optional[float] = None
    le: Optional[float] = None
    gt: Optional[float] = None
    lt: Optional[float] = None
    description: str = ""
    scope: Scope = "both"  # hires: read from an infotext only with hires fix; img2img: Img2ImgRequest only
    img2img_default: Any = _SAME  # the img2img engine default where it differs
    wire: bool = True  # an A1111 API body field
    wire_type: Any = _SAME  # the body's annotation where it differs
    wire_default: Any = _SAME  # A1111's API default where it differs from the engine's…
    wire_why: str = ""  # …and why
    infotext: tuple[str, ...] = ()  # keys it is read from, in order (a later one wins)
    parse: Callable[[str], Any] = str  # infotext text → value (ValueError/KeyError: dropped)
    written: bool = False  # True: written as "key: value" when not the default (A1111's order places the others)
    label: Optional[str] = None  # the UI label, with…
    control: Optional[Control] = None  # …its control (None: not a plain control on the form)

    def request_definition(self, img2img: bool = False) -> tuple[Any, Any]:
        """``(annotation, FieldInfo)`` for pydantic ``create_model`` (the engine request)."""
        default = self.img2img_default if img2img and self.img2img_default is not _SAME else self.default
        limits = {k: v for k, v in (("ge", self.ge), ("le", self.le), ("gt", self.gt), ("lt", self.lt))
                  if v is not None}
        return self.type, Field(default, description=self.description or None, **limits)

    def wire_definition(self, img2img: bool = False) -> tuple[Any, Any]:
        """``(annotation, default)`` for the A1111 body: A1111 checks no ranges there, the engine does."""
        default = self.wire_default if self.wire_default is not _SAME else (
            self.img2img_default if img2img and self.img2img_default is not _SAME else self.default)
        annotation = self.type if self.wire_type is _SAME else self.wire_type
        if default is None:
            annotation = Optional[annotation]
        return annotation, default

    @property
    def wire_differs(self) -> bool:
        return self.wire_default is not _SAME


def to_int(text: str) -> int:
    """An infotext integer ("20", "20.0"); "20.5" is no integer."""
    number = float(text)
    if not number.is_integer():
        raise ValueError(text)
    return int(number)


MASKED_CONTENT_BACK: dict[str, int] = {"fill": 0, "original": 1, "latent noise": 2, "latent nothing": 3}


def _bool(text: str) -> bool:
    return {"true": True, "false": False}[text.strip().lower()]


FIELDS: tuple[GenerationField, ...] = (
    GenerationField("steps", int, 20, ge=1, le=500, infotext=("Steps",), parse=to_int,
                    wire_default=50, wire_why="A1111's API uses StableDiffusionProcessing's 50; its UI starts at 20",
                    label="Sampling steps", control=Control("slider", 1, 150, 1)),
    GenerationField("cfg_scale", float, 7.0, ge=0.0, le=100.0, infotext=("CFG scale",), parse=float,
                    label="CFG Scale", control=Control("slider", 1.0, 30.0, 0.5)),
    GenerationField("seed", int, -1, ge=-1, le=SEED_MAX, description="-1: random", infotext=("Seed",),
                    parse=to_int, label="Seed", control=Control("number")),
    # width/height: the multiple-of-8 and MIN_SIDE..MAX_SIDE checks are GenerationRequest's validator
    GenerationField("width", int, 512, infotext=("Size-1",), parse=to_int,
                    label="Width", control=Control("slider", MIN_SIDE, 2048, 8)),
    GenerationField("height", int, 512, infotext=("Size-2",), parse=to_int,
                    label="Height", control=Control("slider", MIN_SIDE, 2048, 8)),
    GenerationField("batch_size", int, 1, ge=1, le=64, label="Batch size", control=Control("slider", 1, 8, 1)),
    GenerationField("n_iter", int, 1, ge=1, le=1000, label="Batch count", control=Control("slider", 1, 100, 1)),
    GenerationField("subseed", int, -1, ge=-1, le=SEED_MAX, description="-1: random", infotext=("Variation seed",),
                    parse=to_int, label="Variation seed", control=Control("number")),
    GenerationField("subseed_strength", float, 0.0, ge=0.0, le=1.0, infotext=("Variation seed strength",),
                    parse=float, label="Variation strength", control=Control("slider", 0.0, 1.0, 0.01)),
    GenerationField("seed_resize_from_w", int, -1, infotext=("Seed resize from-1",), parse=to_int),
    GenerationField("seed_resize_from_h", int, -1, infotext=("Seed resize from-2",), parse=to_int),
    # The two forms' sliders differ (hires 0.7, img2img 0.75): the tabs declare them
    GenerationField("denoising_strength", Optional[float], None, ge=0.0, le=1.0, img2img_default=0.75,
                    infotext=("Denoising strength",), parse=float),
    GenerationField("clip_skip", int, 1, ge=1, le=12, wire=False, infotext=("Clip skip",), parse=to_int),
    GenerationField("vae", Optional[str], None, wire=False, infotext=("VAE",)),
    GenerationField("refiner_checkpoint", Optional[str], None, infotext=("Refiner",)),
    GenerationField("refiner_switch_at", Optional[float], None, gt=0.0, lt=1.0, infotext=("Refiner switch at",),
                    parse=float),
    # Sampler parameters (A1111's p.eta / s_churn / s_tmin / s_tmax / s_noise)
    GenerationField("eta", Optional[float], None, ge=0.0, le=10.0,
                    description="None: the eta_ancestral / eta_ddim setting", infotext=("Eta", "Eta DDIM"),
                    parse=float),
    GenerationField("s_churn", float, 0.0, ge=0.0, le=100.0, infotext=("Sigma churn",), parse=float),
    GenerationField("s_tmin", float, 0.0, ge=0.0, infotext=("Sigma tmin",), parse=float),
    GenerationField("s_tmax", float, 0.0, ge=0.0, description="0: no upper limit (A1111)", infotext=("Sigma tmax",),
                    parse=float),
    GenerationField("s_noise", float, 1.0, ge=0.0, le=10.0, infotext=("Sigma noise",), parse=float),
    GenerationField("tiling", bool, False, description="Seamless tiles: circular padding in the UNet and VAE",
                    infotext=("Tiling",), parse=_bool),
    # Hires fix (txt2img): read from an infotext only when it used hires fix
    GenerationField("hr_sampler_name", Optional[str], None, scope="hires",
                    description="None / 'Use same sampler': the first pass's", infotext=("Hires sampler",)),
    GenerationField("hr_scheduler", Optional[str], None, scope="hires",
                    description="None / 'Use same scheduler': the first pass's", infotext=("Hires schedule type",)),
    GenerationField("hr_prompt", str, "", scope="hires", description="Empty: the prompt", infotext=("Hires prompt",)),
    GenerationField("hr_negative_prompt", str, "", scope="hires", description="Empty: the negative prompt",
                    infotext=("Hires negative prompt",)),
    GenerationField("hr_cfg", Optional[float], None, ge=0.0, le=100.0, scope="hires",
                    description="None: cfg_scale (Forge's Hires CFG Scale)", infotext=("Hires CFG Scale",), parse=float),
    GenerationField("hr_scale", float, 2.0, ge=1.0, le=8.0, scope="hires", infotext=("Hires upscale",), parse=float,
                    label="Upscale by", control=Control("slider", 1.0, 4.0, 0.05)),
    GenerationField("hr_resize_x", int, 0, ge=0, le=MAX_SIDE, scope="hires", infotext=("Hires resize-1",),
                    parse=to_int),
    GenerationField("hr_resize_y", int, 0, ge=0, le=MAX_SIDE, scope="hires", infotext=("Hires resize-2",),
                    parse=to_int),
    GenerationField("hr_second_pass_steps", int, 0, ge=0, le=500, scope="hires", infotext=("Hires steps",),
                    parse=to_int, label="Hires steps", control=Control("slider", 0, 150, 1, elem="hires_steps")),
    GenerationField("hr_upscaler", str, "Latent", scope="hires", infotext=("Hires upscaler",),
                    wire_default=None, wire_why="A1111's API leaves it null; the route reads null as 'Latent'"),
    # img2img / inpaint only
    GenerationField("mask_blur", int, 4, ge=0, le=64, scope="img2img", infotext=("Mask blur",), parse=to_int,
                    wire_default=None, wire_why="A1111's API: null means mask_blur_x / mask_blur_y (4 each)",
                    label="Mask blur", control=Control("slider", 0, 64, 1)),
    GenerationField("inpainting_fill", InpaintingFill, InpaintingFill.ORIGINAL, scope="img2img",
                    infotext=("Masked content",), parse=lambda v: MASKED_CONTENT_BACK[v.strip().lower()],
                    wire_type=int, wire_default=0, wire_why="A1111's API defaults to 0 (fill); its UI to 'original'"),
    GenerationField("inpaint_full_res", bool, False, scope="img2img", infotext=("Inpaint area",),
                    parse=lambda v: v.strip().lower() == "only masked",
                    wire_default=True, wire_why="A1111's API defaults to 'Only masked'; its UI to 'Whole picture'"),
    GenerationField("inpaint_full_res_padding", int, 32, ge=0, le=256, scope="img2img",
                    infotext=("Masked area padding",), parse=to_int,
                    wire_default=0, wire_why="A1111's API defaults to 0; its UI to 32",
                    label="Only masked padding, pixels", control=Control("slider", 0, 256, 4)),
    GenerationField("inpainting_mask_invert", int, 0, ge=0, le=1, scope="img2img", infotext=("Mask mode",),
                    parse=lambda v: int(v.strip().lower() == "inpaint not masked")),
)

BY_NAME: dict[str, GenerationField] = {spec.name: spec for spec in FIELDS}


def _declared_on(spec: GenerationField, img2img: bool) -> bool:
    """Txt2img fields go on GenerationRequest; Img2ImgRequest adds the img2img-only ones and
    redeclares those whose img2img default differs."""
    if img2img:
        return spec.scope == "img2img" or spec.img2img_default is not _SAME
    return spec.scope != "img2img"


def request_definitions(fields: Iterable[GenerationField], img2img: bool = False) -> dict[str, Any]:
    """``create_model`` keyword arguments for the engine request (txt2img, or img2img's additions)."""
    return {spec.name: spec.request_definition(img2img) for spec in fields if _declared_on(spec, img2img)}


def wire_definitions(fields: Iterable[GenerationField], img2img: bool = False) -> dict[str, Any]:
    """``create_model`` keyword arguments for the A1111 body, chosen as :func:`request_definitions`."""
    return {spec.name: spec.wire_definition(img2img) for spec in fields if spec.wire and _declared_on(spec, img2img)}


def infotext_readers(fields: Iterable[GenerationField], scope: Scope) -> tuple[tuple[str, str, Callable[[str], Any]], ...]:
    """``(infotext key, field name, parse)`` for the fields of ``scope`` ("both" takes img2img's too)."""
    wanted = ("hires",) if scope == "hires" else ("both", "img2img")
    return tuple((key, spec.name, spec.parse) for spec in fields if spec.scope in wanted for key in spec.infotext)


def written_params(fields: Iterable[GenerationField], request: Any) -> dict[str, object]:
    """Infotext entries of the ``written`` fields whose value is not the default."""
    params: dict[str, object] = {}
    for spec in fields:
        if spec.written and spec.infotext and hasattr(request, spec.name):
            value = getattr(request, spec.name)
            if value != spec.default:
                params[spec.infotext[0]] = value
    return params


def int_fields(fields: Iterable[GenerationField]) -> tuple[str, ...]:
    """Form fields whose control may hand over a float (Gradio sliders / numbers) for an int field."""
    return tuple(spec.name for spec in fields if spec.control is not None and spec.type is int)
