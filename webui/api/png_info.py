"""A1111's image-to-text routes: ``/png-info`` (infotext and chunks of a picture) and
``/interrogate`` (501: no captioning model ships, and none is downloaded)."""

from __future__ import annotations

from fastapi import APIRouter

from pipelines.diffusion.infotext import parse_infotext
from pipelines.outputs import read_infotext
from webui.api.schemas import InterrogateBody, PngInfoBody, PngInfoResponse
from webui.errors import ApiError
from webui.imagecodec import decode_image

# A1111 modules/images.py: image.info keys that png-info does not report as items
_IGNORED_INFO_KEYS = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background", "timestamp",
    "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
})
INTERROGATE_UNAVAILABLE = (
    "interrogate: no captioning model (CLIP interrogator or DeepBooru) is installed, and Atelier never "
    "downloads one; this route is not available"
)


def _png_info(body: PngInfoBody) -> PngInfoResponse:
    image = decode_image(body.image, "image")
    text = read_infotext(image) or ""
    items = {k: v for k, v in image.info.items()
             if k != "parameters" and k not in _IGNORED_INFO_KEYS and isinstance(v, (str, int, float, bool))}
    parsed = parse_infotext(text)
    parameters = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt, **parsed.params}
    return PngInfoResponse(info=text, items=items, parameters=parameters)


def png_info_router() -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoBody) -> PngInfoResponse:
        return _png_info(body)

    @router.post("/interrogate")
    def interrogate(body: InterrogateBody) -> None:
        raise ApiError(501, INTERROGATE_UNAVAILABLE)

    return router
