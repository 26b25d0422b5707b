"""A1111's Extras routes: ``extra-single-image`` and ``extra-batch-images`` (upscaling).

Decode, queue one job on the shared queue, encode; the work is ``pipelines.extras``'.
"""

from __future__ import annotations

import html
from typing import Sequence

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.extras.postprocess import ExtrasOptions, ExtrasResult, run_extras
from pipelines.outputs import read_infotext
from webui.api.schemas import (
    ExtrasBaseBody,
    ExtrasBatchImagesBody,
    ExtrasBatchImagesResponse,
    ExtrasSingleImageBody,
    ExtrasSingleImageResponse,
)
from webui.imagecodec import decode_image, encode_png_base64
from webui.api.jobwait import run_queued

_OPTION_FIELDS = tuple(ExtrasOptions.__dataclass_fields__)


def html_info(text: str) -> str:
    """A1111's ``plaintext_to_html``: escaped lines joined by ``<br>`` in one paragraph."""
    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


async def _run(ctx: AtelierContext, body: ExtrasBaseBody, images: Sequence[tuple[str, Image.Image]]) -> ExtrasResult:
    options = ExtrasOptions(**body.model_dump(include=set(_OPTION_FIELDS)))
    return await run_queued(ctx.queue, "extras", lambda control: run_extras(
        ctx.upscalers, ctx.writer, images, options, save=body.save_images, control=control,
        restoration=ctx.face_restoration))


def _decode_batch(ctx: AtelierContext, body: ExtrasBatchImagesBody) -> list[tuple[str, Image.Image]]:
    budget = ctx.engine.limits.input_budget()
    budget.expect("imageList", len(body.imageList))
    return [(item.name or f"image{i}", decode_image(item.data, f"imageList[{i}].data", budget))
            for i, item in enumerate(body.imageList)]


def _encode(source: Image.Image, image: Image.Image, postprocessing: str) -> str:
    """A PNG carrying the source's infotext and the ``postprocessing`` recipe (A1111's chunks)."""
    return encode_png_base64(image, read_infotext(source), {"postprocessing": postprocessing} if postprocessing else None)


def _info(result: ExtrasResult) -> str:
    """The last image's recipe (A1111 reports the last one) and any warnings, as HTML."""
    lines = [*result.infotexts[-1:], *result.warnings]
    return html_info("\n".join(line for line in lines if line))


def extras_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    # async: a request waiting for the queue holds no worker thread (decoding and encoding do)
    @router.post("/extra-single-image", response_model=ExtrasSingleImageResponse)
    async def extra_single_image(body: ExtrasSingleImageBody) -> ExtrasSingleImageResponse:
        source = await run_in_threadpool(decode_image, body.image, "image", ctx.engine.limits.input_budget())
        result = await _run(ctx, body, [("image", source)])
        return await run_in_threadpool(lambda: ExtrasSingleImageResponse(
            html_info=_info(result), image=_encode(source, result.images[0], result.infotexts[0])))

    @router.post("/extra-batch-images", response_model=ExtrasBatchImagesResponse)
    async def extra_batch_images(body: ExtrasBatchImagesBody) -> ExtrasBatchImagesResponse:
        sources = await run_in_threadpool(_decode_batch, ctx, body)
        result = await _run(ctx, body, sources)
        images = await run_in_threadpool(
            lambda: [_encode(src, im, text) for (_, src), im, text in zip(sources, result.images, result.infotexts)])
        return ExtrasBatchImagesResponse(html_info=_info(result), images=images)

    return router
