"""A1111's ``/sdapi/v1`` request and response shapes (field names and defaults as A1111 1.10).

Checked against AUTOMATIC1111/stable-diffusion-webui ``modules/api/models.py`` (every generated
field is ``Optional``; ``sampler_index`` defaults to "Euler", ``save_images`` to False) and the
``StableDiffusionProcessing*`` dataclasses in ``modules/processing.py`` for the defaults.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from pipelines.diffusion.fields import FIELDS, wire_definitions


class _A1111Body(BaseModel):
    """Request bodies: A1111 declares every field ``Optional``, so ``null`` means the default.

    Fields Atelier has no use for (``s_min_uncond``, ``do_not_save_grid`` …) are accepted and
    echoed back in ``parameters`` as A1111 does; ``hr_checkpoint_name`` other than "Use same
    checkpoint" answers 422 (a hires pass on another model is not supported).
    """

    # NaN / Infinity (Python's JSON reads them) are never a valid number here
    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            reject_lone_surrogates(data)
            return {k: v for k, v in data.items() if v is not None}
        return data


def reject_lone_surrogates(value: Any, path: str = "") -> None:
    """JSON may carry ``"\\ud800"``, which is no Unicode text: it could not be encoded into a
    PNG or a response later (a 500). Refuse it up front, naming the field (ValueError → 422)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{path or 'text'}: character at position {exc.start} is a lone surrogate "
                             f"({ascii(exc.object[exc.start])}), not valid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_lone_surrogates(key, path or "key")
            reject_lone_surrogates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            reject_lone_surrogates(item, f"{path}[{index}]")


# The simple fields with A1111's wire defaults, from pipelines.diffusion.fields (where each
# default that differs from the engine's says why)
_Txt2ImgFields = create_model("_Txt2ImgFields", __base__=_A1111Body, __module__=__name__, **wire_definitions(FIELDS))


class Txt2ImgBody(_Txt2ImgFields):
    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = Field(default_factory=list)
    sampler_name: Optional[str] = None
    sampler_index: str = Field("Euler", description="legacy alias, used when sampler_name is empty")
    scheduler: Optional[str] = None
    enable_hr: bool = False
    hr_checkpoint_name: Optional[str] = Field(None, description="only 'Use same checkpoint' (or unset): else 422")
    firstphase_width: int = Field(0, description="legacy: with enable_hr, a first pass at this size")
    firstphase_height: int = 0
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True
    send_images: bool = True
    save_images: bool = False
    restore_faces: Optional[bool] = None
    script_name: Optional[str] = None
    script_args: list[Any] = Field(default_factory=list)
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: Optional[str] = Field(None, description="A1111 1.9+: fills the fields this request leaves unset")


_Img2ImgFields = create_model("_Img2ImgFields", __base__=Txt2ImgBody, __module__=__name__,
                              **wire_definitions(FIELDS, img2img=True))


class Img2ImgBody(_Img2ImgFields):
    init_images: Optional[list[str]] = None
    mask: Optional[str] = None
    resize_mode: int = 0
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    include_init_images: bool = False


class GenerationResponse(BaseModel):
    images: list[str]
    parameters: dict[str, Any]
    info: str = Field(description="JSON-encoded object: all_seeds, infotexts, sd_model_name, …")


class PngInfoBody(BaseModel):
    image: str


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: Optional[str] = None
    textinfo: Optional[str] = None


class SdModelItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    title: str
    model_name: str
    hash: Optional[str]
    sha256: Optional[str]
    filename: str
    config: Optional[str] = None


class InterrogateBody(BaseModel):
    image: str = ""
    model: str = "clip"


class ExtrasBaseBody(_A1111Body):
    """A1111's ExtrasBaseRequest. ``show_extras_results`` only matters for A1111's folder mode:
    the API always returns the images, as A1111's does. ``save_images`` is Atelier's (A1111's
    API never saves extras); it writes to ``outputs/extras-images``."""

    resize_mode: Literal[0, 1] = Field(0, description="0: scale by upscaling_resize; 1: to upscaling_resize_w/h")
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0.0, ge=0.0, le=1.0)
    codeformer_visibility: float = Field(0.0, ge=0.0, le=1.0)
    codeformer_weight: float = Field(0.0, ge=0.0, le=1.0)
    upscaling_resize: float = Field(2.0, ge=1.0, le=8.0)
    upscaling_resize_w: int = Field(512, ge=1, le=8192)
    upscaling_resize_h: int = Field(512, ge=1, le=8192)
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0.0, ge=0.0, le=1.0)
    upscale_first: bool = False
    save_images: bool = False


class ExtrasSingleImageBody(ExtrasBaseBody):
    image: str = ""


class FileData(BaseModel):
    data: str
    name: str = ""


class ExtrasBatchImagesBody(ExtrasBaseBody):
    imageList: list[FileData] = Field(default_factory=list)  # noqa: N815 (A1111's name)


class ExtrasSingleImageResponse(BaseModel):
    html_info: str
    image: str


class ExtrasBatchImagesResponse(BaseModel):
    html_info: str
    images: list[str]
