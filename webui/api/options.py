"""A1111's ``/options`` (read; validated write that switches the model before saving) and
``/cmd-flags``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pipelines.context import AtelierContext
from webui.api.schemas import reject_lone_surrogates


def _options(ctx: AtelierContext) -> dict[str, Any]:
    options = ctx.settings.model_dump()
    selected = ctx.manager.selected()
    options["sd_model_checkpoint"] = selected.title if selected is not None else None
    options["sd_checkpoint_hash"] = selected.sha256 if selected is not None else None  # A1111: the full sha256
    options["sd_vae"] = ctx.manager.vae_choice
    return options


def _set_options(ctx: AtelierContext, changes: dict[str, Any]) -> None:
    """Validate everything first; switch the model (a failure keeps the current one), then save."""
    changes = dict(changes)
    changes.pop("sd_checkpoint_hash", None)  # follows sd_model_checkpoint; clients echo it back
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


def options_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.get("/options")
    async def get_options() -> dict:
        return _options(ctx)

    @router.post("/options")
    def set_options(changes: dict[str, Any]) -> None:
        reject_lone_surrogates(changes)  # stored, such text would make every GET /options a 500
        _set_options(ctx, changes)

    @router.get("/cmd-flags")
    async def cmd_flags() -> dict[str, Any]:
        return dict(ctx.config.cmd_flags)

    return router
