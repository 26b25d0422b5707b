"""A1111's ``/txt2img`` and ``/img2img``.

Routes translate only: decode inputs, build an engine request, queue it (awaited without holding
a worker thread), encode the result. Shapes follow AUTOMATIC1111 1.10 ``modules/api/api.py``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from pipelines.context import AtelierContext
from pipelines.diffusion import samplers
from pipelines.diffusion.batch_grid import add_batch_grid
from pipelines.diffusion.engine import GenerationResult
from pipelines.diffusion.request import GenerationRequest, Img2ImgRequest, Txt2ImgRequest
from pipelines.limits import InputBudget
from pipelines.models.loader import LoadedCheckpoint
from webui.api.infotext import apply_infotext
from webui.api.schemas import GenerationResponse, Img2ImgBody, Txt2ImgBody
from webui.errors import ApiError
from webui.imagecodec import decode_image, encode_png_base64
from webui.api.jobwait import run_queued

log = logging.getLogger(__name__)

# Body fields the route decodes or derives itself instead of copying them into the request
_DERIVED_FIELDS = frozenset({"init_images", "mask", "mask_blur", "sampler_name", "scheduler", "hr_upscaler",
                             "alwayson_scripts"})
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
    if body.hr_checkpoint_name not in (None, "", "Use same checkpoint"):
        raise ApiError(422, "hr_checkpoint_name: a hires pass on another checkpoint is not supported by Atelier; "
                            "leave it unset or send 'Use same checkpoint'")
    if target is Txt2ImgRequest and body.enable_hr and (body.firstphase_width or body.firstphase_height):
        # A1111's legacy hires fields: a first pass at firstphase size, upscaled to width x height
        fields.update(width=body.firstphase_width or body.width, height=body.firstphase_height or body.height,
                      hr_resize_x=body.width, hr_resize_y=body.height)
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


def generation_router(ctx: AtelierContext) -> APIRouter:
    """``/sdapi/v1/txt2img`` and ``/sdapi/v1/img2img``."""
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

    return router
