"""``/atelier/v1/status``: readiness, the unusable files with their reasons, start-up notices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from pipelines.context import AtelierContext
from pipelines.models.catalog import empty_folder_hint


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


def status_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(tags=["atelier"])

    @router.get("/atelier/v1/status")
    def status() -> dict:
        return _status(ctx)

    return router
