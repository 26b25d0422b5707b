"""REST routes: A1111's ``/sdapi/v1`` (with ``--api``) and Atelier's own ``/atelier/v1``.

Routes translate only: decode inputs, build an engine request, queue it, encode the result.
Every expected failure becomes a 4xx JSON error with a message; nothing leaks a traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from pipelines.context import AtelierContext
from pipelines.diffusion import samplers
from pipelines.diffusion.infotext import parse_infotext
from pipelines.diffusion.request import Img2ImgRequest, Txt2ImgRequest
from pipelines.jobs import JobInterrupted
from pipelines.models.catalog import UnknownModelError, empty_folder_hint
from pipelines.models.loader import ModelLoadError
from pipelines.outputs import read_infotext
from webui.api_models import (
    GenerationResponse,
    Img2ImgBody,
    PngInfoBody,
    PngInfoResponse,
    SdModelItem,
    Txt2ImgBody,
)
from webui.imagecodec import ImageDecodeError, decode_image, encode_png_base64

log = logging.getLogger(__name__)

_API_ONLY_FIELDS = {
    "sampler_index", "override_settings", "override_settings_restore_afterwards", "send_images",
    "script_name", "script_args", "alwayson_scripts", "restore_faces", "include_init_images",
    "mask_blur_x", "mask_blur_y",
}


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": kind, "detail": message})


def _validation_message(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body",))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Map engine exceptions to 4xx responses with readable messages."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, "ApiError")

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc), "ValidationError")

    for exc_type, status in (
        (ValidationError, 422), (ImageDecodeError, 422), (UnknownModelError, 422),
        (samplers.UnknownSamplerError, 422), (ModelLoadError, 400), (JobInterrupted, 409), (ValueError, 422),
    ):
        app.add_exception_handler(exc_type, _handler(status))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, f"{type(exc).__name__}: {exc}", "InternalError")


def _handler(status: int) -> Callable:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        return _error(status, message, type(exc).__name__)

    return handle


def _request_fields(body: Txt2ImgBody, ctx: AtelierContext) -> dict[str, Any]:
    fields = body.model_dump(exclude=_API_ONLY_FIELDS)
    fields["sampler_name"] = body.sampler_name or body.sampler_index
    fields["scheduler"] = body.scheduler or "Automatic"
    fields["hr_upscaler"] = body.hr_upscaler or "Latent"
    overrides = dict(body.override_settings)
    if "sd_model_checkpoint" in overrides:
        fields["checkpoint"] = overrides.pop("sd_model_checkpoint")
    fields["clip_skip"] = int(overrides.pop("CLIP_stop_at_last_layers", ctx.settings.CLIP_stop_at_last_layers))
    if "sd_vae" in overrides:
        fields["vae"] = overrides.pop("sd_vae")
    fields["save_images"] = body.save_images
    return fields


def _respond(result: Any, body: Txt2ImgBody) -> GenerationResponse:
    images = [encode_png_base64(im, text) for im, text in zip(result.images, result.infotexts)] if body.send_images else []
    parameters = body.model_dump(exclude={"init_images", "mask"})
    return GenerationResponse(images=images, parameters=parameters, info=json.dumps(result.info()))


def sdapi_router(ctx: AtelierContext) -> APIRouter:
    """A1111-compatible routes."""
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.post("/txt2img", response_model=GenerationResponse)
    def txt2img(body: Txt2ImgBody) -> GenerationResponse:
        request = Txt2ImgRequest(**_request_fields(body, ctx))
        result = ctx.queue.run("txt2img", lambda control: ctx.engine.txt2img(request, control))
        return _respond(result, body)

    @router.post("/img2img", response_model=GenerationResponse)
    def img2img(body: Img2ImgBody) -> GenerationResponse:
        if not body.init_images:
            raise ApiError(422, "init_images: img2img needs at least one init image")
        fields = _request_fields(body, ctx)
        fields["init_images"] = [decode_image(data, f"init_images[{i}]") for i, data in enumerate(body.init_images)]
        fields["mask"] = decode_image(body.mask, "mask") if body.mask else None
        fields["mask_blur"] = body.mask_blur if body.mask_blur is not None else max(body.mask_blur_x, body.mask_blur_y)
        request = Img2ImgRequest(**fields)
        result = ctx.queue.run("img2img", lambda control: ctx.engine.img2img(request, control))
        return _respond(result, body)

    @router.get("/sd-models", response_model=list[SdModelItem])
    def sd_models() -> list[SdModelItem]:
        return [
            SdModelItem(title=i.title, model_name=i.model_name, hash=i.shorthash, sha256=i.sha256,
                        filename=str(i.path), config=str(i.config_dir or i.yaml_path or "") or None)
            for i in ctx.catalog.usable_checkpoints()
        ]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> dict:
        ctx.catalog.refresh(hash_missing=True)
        return {}

    @router.get("/samplers")
    def list_samplers() -> list[dict]:
        return samplers.list_samplers()

    @router.get("/schedulers")
    def list_schedulers() -> list[dict]:
        return samplers.list_schedulers()

    @router.get("/options")
    def get_options() -> dict:
        return _options(ctx)

    @router.post("/options")
    def set_options(changes: dict[str, Any]) -> dict:
        changes = dict(changes)
        checkpoint = changes.pop("sd_model_checkpoint", None)
        if checkpoint:
            loaded = ctx.queue.run("load-model", lambda control: ctx.manager.checkpoint(checkpoint))
            changes["sd_model_checkpoint"] = loaded.info.title
        if "sd_vae" in changes:
            vae = str(changes["sd_vae"])
            ctx.queue.run("load-vae", lambda control: ctx.manager.set_vae(vae))
        ctx.settings_store.update(changes)
        ctx.apply_settings()
        return {}

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoBody) -> PngInfoResponse:
        image = decode_image(body.image, "image")
        text = read_infotext(image) or ""
        items = {k: v for k, v in image.info.items() if isinstance(v, (str, int, float)) and k != "parameters"}
        parameters: dict[str, Any] = {}
        if text:
            parsed = parse_infotext(text)
            parameters = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt, **parsed.params}
        return PngInfoResponse(info=text, items=items, parameters=parameters)

    @router.get("/progress")
    def progress(skip_current_image: bool = False) -> dict:
        job = ctx.queue.current
        if job is None:
            return {"progress": 0.0, "eta_relative": 0.0, "state": {"job_count": 0, "interrupted": False,
                    "skipped": False, "sampling_step": 0, "sampling_steps": 0, "job": ""},
                    "current_image": None, "textinfo": None}
        p = job.control.progress
        return {
            "progress": p.fraction,
            "eta_relative": p.eta_seconds or 0.0,
            "state": {"job": job.id, "job_count": p.batch_count, "job_no": p.batch,
                      "sampling_step": p.step, "sampling_steps": p.total_steps,
                      "interrupted": job.control.interrupted.is_set(), "skipped": job.control.skipped.is_set()},
            "current_image": None,
            "textinfo": p.textinfo,
        }

    @router.post("/interrupt")
    def interrupt() -> dict:
        ctx.queue.interrupt()
        return {}

    @router.post("/skip")
    def skip() -> dict:
        ctx.queue.skip()
        return {}

    return router


def _options(ctx: AtelierContext) -> dict[str, Any]:
    options = ctx.settings.model_dump()
    current = ctx.manager.current
    if current is not None:
        options["sd_model_checkpoint"] = current.info.title
    options["sd_vae"] = ctx.manager.vae_choice
    return options


def register_api(app: FastAPI, ctx: AtelierContext, *, mount_sdapi: bool) -> None:
    """Add error handlers, the health route and (with ``--api``) ``/sdapi/v1``."""
    install_error_handlers(app)

    @app.get("/atelier/v1/status", tags=["atelier"])
    def status() -> dict:
        usable = ctx.catalog.usable_checkpoints()
        return {
            "ready": True,
            "checkpoints": len(usable),
            "unusable": [{"name": i.name, "reason": i.error} for i in ctx.catalog.checkpoints if not i.usable],
            "hint": None if usable else empty_folder_hint(ctx.catalog.models_dir),
        }

    if mount_sdapi:
        app.include_router(sdapi_router(ctx))
