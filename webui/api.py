"""REST routes: A1111's ``/sdapi/v1`` (with ``--api``) and Atelier's own ``/atelier/v1``.

Routes translate only: decode inputs, build an engine request, queue it, encode the result.
Every expected failure becomes a 4xx JSON error ``{"error": kind, "detail": message}``;
nothing leaks a traceback. Shapes follow AUTOMATIC1111 1.10 ``modules/api/api.py``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.context import AtelierContext
from pipelines.diffusion import samplers
from pipelines.diffusion.batch_grid import add_batch_grid
from pipelines.diffusion.engine import GenerationResult
from pipelines.diffusion.infotext import parse_infotext
from pipelines.diffusion.request import GenerationRequest, Img2ImgRequest, Txt2ImgRequest
from pipelines.extras.upscalers import UnknownUpscalerError
from pipelines.jobs import Job, JobInterrupted
from pipelines.limits import InputBudget
from pipelines.models.catalog import UnknownModelError, empty_folder_hint
from pipelines.models.loader import LoadedCheckpoint, ModelLoadError
from pipelines.outputs import read_infotext
from webui.api_auth import Credentials, basic_auth
from webui.api_detect import detect_router
from webui.api_extras import extras_router
from webui.api_faces import faces_router
from webui.api_infotext import apply_infotext
from webui.api_jobs import jobs_router
from webui.api_lists import lists_router
from webui.api_models import (
    GenerationResponse,
    Img2ImgBody,
    InterrogateBody,
    PngInfoBody,
    PngInfoResponse,
    ProgressResponse,
    SdModelItem,
    Txt2ImgBody,
    reject_lone_surrogates,
)
from webui.api_previews import previews_router
from webui.asgi_errors import CatchUnexpected, answer_wrong_methods
from webui.errors import ApiError, user_message
from webui.imagecodec import ImageDecodeError, decode_image, encode_png_base64
from webui.jobwait import run_queued

log = logging.getLogger(__name__)

# A1111 modules/images.py: image.info keys that png-info does not report as items
_IGNORED_INFO_KEYS = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background", "timestamp",
    "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
})
# Body fields the route decodes or derives itself instead of copying them into the request
_DERIVED_FIELDS = frozenset({"init_images", "mask", "mask_blur", "sampler_name", "scheduler", "hr_upscaler",
                             "alwayson_scripts"})
INTERROGATE_UNAVAILABLE = (
    "interrogate: no captioning model (CLIP interrogator or DeepBooru) is installed, and Atelier never "
    "downloads one; this route is not available"
)
# Exceptions that are the client's fault, by status (first match wins)
_CLIENT_ERRORS: tuple[tuple[type[BaseException], int], ...] = (
    (ValidationError, 422), (ImageDecodeError, 422), (UnknownModelError, 422), (UnknownUpscalerError, 422),
    (ModelLoadError, 400), (JobInterrupted, 409), (ValueError, 422),
)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _error(status: int, message: str, kind: str) -> JSONResponse:
    # a message quoting client text with a lone surrogate must still render as UTF-8 JSON
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse(status_code=status, content={"error": kind, "detail": message})


def _validation_message(exc: Union[ValidationError, RequestValidationError]) -> str:
    """``field: problem; …`` with FastAPI's ``body`` prefix and pydantic's "Value error," dropped."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map engine exceptions to 4xx responses with readable messages; anything else is a 500
    with a one-line message (the traceback goes to the server log only)."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, "ApiError")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail), "HTTPException")
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc), "ValidationError")

    for exc_type, status in _CLIENT_ERRORS:
        app.add_exception_handler(exc_type, _handler(status))

    app.add_middleware(CatchUnexpected)  # a 500 that keeps the client's connection usable


def _handler(status: int) -> Callable:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else user_message(exc)
        return _error(status, message, type(exc).__name__)

    return handle


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


@dataclass
class _Overrides:
    """``override_settings`` split into request fields and work around the job."""

    fields: dict[str, Any] = field(default_factory=dict)
    vae: Optional[str] = None
    model_overridden: bool = False
    restore: bool = True
    persist: dict[str, Any] = field(default_factory=dict)


def _overrides(ctx: AtelierContext, body: Txt2ImgBody) -> _Overrides:
    """Resolve ``override_settings`` up front, so an unknown name fails before queueing.

    As in A1111, an override lasts one request unless ``override_settings_restore_afterwards``
    is false, in which case it is saved as a setting once the job succeeds.
    """
    settings = dict(body.override_settings)
    result = _Overrides()
    checkpoint = settings.get("sd_model_checkpoint")
    info = ctx.catalog.find_checkpoint(str(checkpoint)) if checkpoint else ctx.manager.selected()
    result.model_overridden = bool(checkpoint)
    result.fields["checkpoint"] = str(info.path) if info is not None else None
    result.fields["clip_skip"] = settings.get("CLIP_stop_at_last_layers", ctx.settings.CLIP_stop_at_last_layers)
    if settings.get("sd_vae") is not None:
        result.vae = ctx.manager.check_vae(str(settings["sd_vae"]))
    result.restore = body.override_settings_restore_afterwards
    if not result.restore:
        ctx.settings_store.validate(settings)
        result.persist = settings
    return result


def _sampler_fields(body: Txt2ImgBody) -> dict[str, Any]:
    """A1111: ``sampler_name or sampler_index``; "DPM++ 2M Karras" carries its schedule type."""
    spec, schedule = samplers.resolve_sampler(body.sampler_name or body.sampler_index, body.scheduler)
    return {"sampler_name": spec.name, "scheduler": schedule}


def _alwayson_scripts(ctx: AtelierContext, body: Txt2ImgBody, kind: str) -> dict[str, list[Any]]:
    """A1111's ``alwayson_scripts: {name: {"args": [...]}}`` → checked ``{title: args}``."""
    enabled = {}
    for name, value in body.alwayson_scripts.items():
        args = value.get("args", []) if isinstance(value, dict) else None
        if not isinstance(args, list):
            raise ApiError(422, f'alwayson_scripts.{name}: expected {{"args": [...]}}, got {value!r}')
        enabled[name] = args
    return ctx.alwayson.check(enabled, kind)


def _build_request(ctx: AtelierContext, body: Txt2ImgBody, target: type[GenerationRequest], overrides: _Overrides,
                   **decoded: Any) -> GenerationRequest:
    """The engine request: the body's A1111 fields, resolved names, decoded images and the
    checked always-on scripts."""
    names = (set(type(body).model_fields) & set(target.model_fields)) - _DERIVED_FIELDS
    fields = body.model_dump(include=names)
    fields.update(_sampler_fields(body))
    fields["alwayson_scripts"] = _alwayson_scripts(ctx, body, "img2img" if target is Img2ImgRequest else "txt2img")
    fields["hr_upscaler"] = body.hr_upscaler or "Latent"
    fields["restore_faces"] = bool(body.restore_faces)  # A1111 sends null for "not set"
    fields.update(overrides.fields)
    fields.update(decoded)
    return target(**fields)


@dataclass
class _Prepared:
    """A generation request ready to queue, with what its response needs."""

    body: Txt2ImgBody
    request: GenerationRequest
    overrides: _Overrides
    warnings: list[str]


def _prepare(ctx: AtelierContext, body: Txt2ImgBody, target: type[GenerationRequest]) -> _Prepared:
    """Everything before queueing (a worker thread runs it): limits first, then the infotext,
    the decoded images (their headers checked against the limits first), names and the checks
    the engine would make, so a bad request is answered before it waits for the queue."""
    limits = ctx.engine.limits
    for name in ("prompt", "negative_prompt", "infotext"):
        limits.check_text(name, getattr(body, name))
    body, warnings = apply_infotext(body, ctx.manager)
    decoded = _decode_img2img_inputs(body, limits.input_budget()) if target is Img2ImgRequest else {}
    overrides = _overrides(ctx, body)
    request = _build_request(ctx, body, target, overrides, **decoded)
    ctx.engine.admit(request)
    return _Prepared(body, request, overrides, warnings)


async def _generate(ctx: AtelierContext, kind: str, prepared: _Prepared) -> GenerationResult:
    """Queue the job (or the selectable script ``body.script_name``) and await it without
    holding a worker thread. Overridden model and VAE are switched back inside the same job,
    so no other request (API or UI) ever runs on a one-request override."""
    body, request, overrides = prepared.body, prepared.request, prepared.overrides
    run: Callable[[Any, Any], GenerationResult]
    scripted = bool(body.script_name and body.script_name.strip().lower() not in ("", "none"))
    if scripted:
        run = ctx.scripts.prepare(ctx.engine, body.script_name, list(body.script_args or []), kind)
    else:
        run = ctx.engine.generate
    manager = ctx.manager

    def job(control: Any) -> GenerationResult:
        control.preview_every = ctx.settings.preview_every()  # /progress's current_image, as for UI jobs
        previous_model, previous_vae = manager.current, manager.vae_choice
        try:
            if overrides.vae is not None:
                manager.set_vae(overrides.vae)
            result = run(request, control)  # type: ignore[arg-type]
            if not scripted and request.save_images:  # A1111: do_not_save_grid = not save_images
                settings = ctx.settings
                add_batch_grid(result, ctx.writer, kind, return_grid=settings.return_grid,
                               grid_save=settings.grid_save)
            return result
        finally:  # success, error or interrupt: the override ends with the job
            if overrides.restore:
                _restore(ctx, previous_model if overrides.model_overridden else None, previous_vae)

    result = await run_queued(ctx.queue, kind, job)
    if overrides.persist:
        await run_in_threadpool(_persist, ctx, overrides.persist)
    return result


def _persist(ctx: AtelierContext, persist: dict[str, Any]) -> None:
    """``override_settings_restore_afterwards: false``: keep the overrides as settings."""
    persist = dict(persist)
    if "sd_model_checkpoint" in persist and ctx.manager.current is not None:
        persist["sd_model_checkpoint"] = ctx.manager.current.info.title
    ctx.settings_store.update(persist)
    ctx.apply_settings()


def _restore(ctx: AtelierContext, model: Optional[LoadedCheckpoint], vae: str) -> None:
    """Put back the VAE choice and the loaded model (both cached, so cheap); never raises."""
    manager = ctx.manager
    try:
        if manager.vae_choice != vae:
            manager.set_vae(vae)
        if model is not None and (manager.current is None or manager.current.info.path != model.info.path):
            manager.checkpoint(str(model.info.path))
    except Exception:  # the job's own result or error matters more than the restore
        log.exception("could not restore %s after an override", model.info.title if model else "the VAE")


def _respond(ctx: AtelierContext, result: GenerationResult, body: Txt2ImgBody,
             parameters: dict[str, Any], warnings: list[str]) -> GenerationResponse:
    """A1111's response: base64 PNGs (infotext in ``parameters`` when enable_pnginfo), the
    request echoed back, and ``info`` as a JSON string (``warnings`` added to its list)."""
    result.warnings += [w for w in warnings if w not in result.warnings]
    with_text = ctx.settings.enable_pnginfo
    images = [encode_png_base64(im, text if with_text else None) for im, text in zip(result.images, result.infotexts)]
    return GenerationResponse(images=images if body.send_images else [], parameters=parameters,
                              info=json.dumps(result.info()))


def _decode_img2img_inputs(body: Img2ImgBody, budget: InputBudget) -> dict[str, Any]:
    if not body.init_images:
        raise ApiError(422, "init_images: img2img needs at least one init image (a base64 PNG/JPEG or data URL)")
    budget.expect("init_images", len(body.init_images) + (1 if body.mask else 0))
    return {
        "init_images": [decode_image(data, f"init_images[{i}]", budget) for i, data in enumerate(body.init_images)],
        "mask": decode_image(body.mask, "mask", budget) if body.mask else None,
        # A1111: mask_blur sets both axes; Atelier blurs both axes alike
        "mask_blur": body.mask_blur if body.mask_blur is not None else max(body.mask_blur_x, body.mask_blur_y),
    }


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def _progress_state(job: Optional[Job]) -> dict[str, Any]:
    """A1111's ``shared.state.dict()`` keys."""
    if job is None:
        return {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "", "job_count": 0,
                "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
    p, control = job.control.progress, job.control
    return {"skipped": control.skipped.is_set(), "interrupted": control.interrupted.is_set(),
            "stopping_generation": False, "job": job.kind, "job_count": p.batch_count,
            "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(job.created_at)),
            "job_no": p.batch, "sampling_step": p.step, "sampling_steps": p.total_steps}


def _png_info(body: PngInfoBody) -> PngInfoResponse:
    image = decode_image(body.image, "image")
    text = read_infotext(image) or ""
    items = {k: v for k, v in image.info.items()
             if k != "parameters" and k not in _IGNORED_INFO_KEYS and isinstance(v, (str, int, float, bool))}
    parsed = parse_infotext(text)
    parameters = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt, **parsed.params}
    return PngInfoResponse(info=text, items=items, parameters=parameters)


def _options(ctx: AtelierContext) -> dict[str, Any]:
    options = ctx.settings.model_dump()
    selected = ctx.manager.selected()
    options["sd_model_checkpoint"] = selected.title if selected is not None else None
    options["sd_vae"] = ctx.manager.vae_choice
    return options


def _set_options(ctx: AtelierContext, changes: dict[str, Any]) -> None:
    """Validate everything first; switch the model (a failure keeps the current one), then save."""
    changes = dict(changes)
    checkpoint = changes.pop("sd_model_checkpoint", None)
    ctx.settings_store.validate(changes)
    vae = ctx.manager.check_vae(str(changes["sd_vae"])) if changes.get("sd_vae") is not None else None
    if checkpoint:
        info = ctx.catalog.find_checkpoint(str(checkpoint))
        loaded = ctx.queue.run("load-model", lambda control: ctx.manager.checkpoint(str(info.path)))
        changes["sd_model_checkpoint"] = loaded.info.title
    if vae is not None:
        ctx.queue.run("load-vae", lambda control: ctx.manager.select_vae(vae))
    ctx.settings_store.update(changes)
    ctx.apply_settings()


def sdapi_router(ctx: AtelierContext) -> APIRouter:
    """A1111-compatible routes."""
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.post("/txt2img", response_model=GenerationResponse)
    async def txt2img(body: Txt2ImgBody) -> GenerationResponse:
        prepared = await run_in_threadpool(_prepare, ctx, body, Txt2ImgRequest)
        result = await _generate(ctx, "txt2img", prepared)
        return await run_in_threadpool(_respond, ctx, result, prepared.body, prepared.body.model_dump(),
                                       prepared.warnings)

    @router.post("/img2img", response_model=GenerationResponse)
    async def img2img(body: Img2ImgBody) -> GenerationResponse:
        prepared = await run_in_threadpool(_prepare, ctx, body, Img2ImgRequest)
        result = await _generate(ctx, "img2img", prepared)
        parameters = prepared.body.model_dump()
        if not prepared.body.include_init_images:  # type: ignore[attr-defined]
            parameters["init_images"], parameters["mask"] = None, None
        return await run_in_threadpool(_respond, ctx, result, prepared.body, parameters, prepared.warnings)

    @router.get("/sd-models", response_model=list[SdModelItem])
    def sd_models() -> list[SdModelItem]:
        # A1111's "config" is the .yaml beside the checkpoint (find_checkpoint_config_near_filename)
        return [
            SdModelItem(title=i.title, model_name=i.model_name, hash=i.shorthash, sha256=i.sha256,
                        filename=str(i.path), config=str(i.yaml_path) if i.yaml_path else None)
            for i in ctx.catalog.usable_checkpoints()
        ]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> None:
        """Rescan now; new files are hashed by the background hasher, as at start-up (their
        ``hash`` / ``sha256`` read null until it is done, as in A1111)."""
        ctx.catalog.refresh(hash_missing=False)
        ctx.library.hash_missing()

    @router.get("/samplers")
    async def list_samplers() -> list[dict]:
        return samplers.list_samplers()

    @router.get("/schedulers")
    async def list_schedulers() -> list[dict]:
        return samplers.list_schedulers()

    @router.get("/options")
    async def get_options() -> dict:
        return _options(ctx)

    @router.post("/options")
    def set_options(changes: dict[str, Any]) -> None:
        reject_lone_surrogates(changes)  # stored, such text would make every GET /options a 500
        _set_options(ctx, changes)

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoBody) -> PngInfoResponse:
        return _png_info(body)

    @router.get("/progress", response_model=ProgressResponse)
    async def progress(skip_current_image: bool = False) -> ProgressResponse:
        job = ctx.queue.current
        state = _progress_state(job)
        if job is None:
            return ProgressResponse(progress=0.0, eta_relative=0.0, state=state)
        p = job.control.progress
        preview = p.preview if isinstance(p.preview, Image.Image) and not skip_current_image else None
        return ProgressResponse(progress=p.fraction, eta_relative=p.eta_seconds or 0.0, state=state,
                                current_image=encode_png_base64(preview, None) if preview else None,
                                textinfo=p.textinfo or None)

    @router.get("/cmd-flags")
    async def cmd_flags() -> dict[str, Any]:
        return dict(ctx.config.cmd_flags)

    @router.post("/interrogate")
    def interrogate(body: InterrogateBody) -> None:
        raise ApiError(501, INTERROGATE_UNAVAILABLE)

    @router.post("/interrupt")
    async def interrupt() -> dict:
        ctx.queue.interrupt()
        return {}

    @router.post("/skip")
    async def skip() -> None:
        ctx.queue.skip()

    return router


def _status(ctx: AtelierContext) -> dict[str, Any]:
    """Readiness, the unusable files with reasons, and where to put a checkpoint if none."""
    usable = ctx.catalog.usable_checkpoints()
    current = ctx.manager.current
    return {
        "ready": True,
        "models_dir": str(ctx.catalog.models_dir),
        "checkpoint_dir": str(ctx.catalog.checkpoint_dir),
        "checkpoints": len(usable),
        "current_checkpoint": current.info.title if current is not None else None,
        "unusable": [{"name": i.name, "path": str(i.path), "reason": i.error}
                     for i in ctx.catalog.checkpoints if not i.usable],
        "unusable_upscalers": [{"name": i.name, "path": str(i.model_path), "reason": i.error}
                               for i in ctx.upscalers.unusable],
        "unusable_vaes": [{"name": i.name, "path": str(i.path), "reason": i.error}
                          for i in ctx.catalog.vaes if not i.usable],
        "unusable_loras": [{"name": i.name, "path": str(i.path), "reason": i.error}
                           for i in ctx.lora_catalog.items if i.error],
        "unusable_embeddings": [{"name": Path(path).stem, "path": path, "reason": error}
                                for path, error in sorted(ctx.embeddings.errors.items())],
        "notices": list(ctx.notices),
        "hint": None if usable else empty_folder_hint(ctx.catalog.models_dir),
    }


def register_api(app: FastAPI, ctx: AtelierContext, *, mount_sdapi: bool,
                 api_auth: Optional[Credentials] = None, extra_routers: Sequence[APIRouter] = ()) -> None:
    """Add error handlers, the status route, (with ``--api``) ``/sdapi/v1`` and the
    ``/atelier/v1`` routers, and ``extra_routers`` (extensions'); with ``api_auth`` every one
    of them needs HTTP Basic."""
    install_error_handlers(app)
    dependencies = [Depends(basic_auth(api_auth))] if api_auth else []
    status_router = APIRouter(tags=["atelier"])

    @status_router.get("/atelier/v1/status")
    def status() -> dict:
        return _status(ctx)

    routers = [status_router, previews_router(ctx)]  # previews: the Models tab's card images
    if mount_sdapi:
        routers += [sdapi_router(ctx), lists_router(ctx), extras_router(ctx), faces_router(ctx), jobs_router(ctx),
                    detect_router(ctx)]
    for router in [*routers, *extra_routers]:
        app.include_router(router, dependencies=dependencies)
    answer_wrong_methods(app)  # GET on a POST-only route: 405, not the UI's 404
