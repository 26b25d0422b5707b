"""A1111's Extras routes: ``extra-single-image`` and ``extra-batch-images`` (upscaling).

Decode, queue one job on the shared queue, encode; the work is ``pipelines.extras``'.
"""

from __future__ import annotations

import html
from typing import Sequence

from fastapi import APIRouter
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.extras.postprocess import ExtrasOptions, ExtrasResult, run_extras
from pipelines.outputs import read_infotext
from webui.api_models import (
    ExtrasBaseBody,
    ExtrasBatchImagesBody,
    ExtrasBatchImagesResponse,
    ExtrasSingleImageBody,
    ExtrasSingleImageResponse,
)
from webui.imagecodec import decode_image, encode_png_base64

_OPTION_FIELDS = tuple(ExtrasOptions.__dataclass_fields__)


def html_info(text: str) -> str:
    """A1111's ``plaintext_to_html``: escaped lines joined by ``<br>`` in one paragraph."""
    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


def _run(ctx: AtelierContext, body: ExtrasBaseBody, images: Sequence[tuple[str, Image.Image]]) -> ExtrasResult:
    options = ExtrasOptions(**body.model_dump(include=set(_OPTION_FIELDS)))
    return ctx.queue.run("extras", lambda control: run_extras(
        ctx.upscalers, ctx.writer, images, options, save=body.save_images, control=control,
        restoration=ctx.face_restoration))


def _encode(source: Image.Image, image: Image.Image, postprocessing: str) -> str:
    """A PNG carrying the source's infotext and the ``postprocessing`` recipe (A1111's chunks)."""
    return encode_png_base64(image, read_infotext(source), {"postprocessing": postprocessing} if postprocessing else None)


def _info(result: ExtrasResult) -> str:
    """The last image's recipe (A1111 reports the last one) and any warnings, as HTML."""
    lines = [*result.infotexts[-1:], *result.warnings]
    return html_info("\n".join(line for line in lines if line))


def extras_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.post("/extra-single-image", response_model=ExtrasSingleImageResponse)
    def extra_single_image(body: ExtrasSingleImageBody) -> ExtrasSingleImageResponse:
        source = decode_image(body.image, "image")
        result = _run(ctx, body, [("image", source)])
        return ExtrasSingleImageResponse(html_info=_info(result),
                                         image=_encode(source, result.images[0], result.infotexts[0]))

    @router.post("/extra-batch-images", response_model=ExtrasBatchImagesResponse)
    def extra_batch_images(body: ExtrasBatchImagesBody) -> ExtrasBatchImagesResponse:
        sources = [(item.name or f"image{i}", decode_image(item.data, f"imageList[{i}].data"))
                   for i, item in enumerate(body.imageList)]
        result = _run(ctx, body, sources)
        images = [_encode(src, im, text) for (_, src), im, text in zip(sources, result.images, result.infotexts)]
        return ExtrasBatchImagesResponse(html_info=_info(result), images=images)

    return router
