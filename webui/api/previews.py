"""``GET /atelier/v1/model-preview/<path>``: the preview images the Models tab's cards show.

Mounted with the UI as well as with ``--api``. Only image files inside the models folder are
served (see :mod:`pipelines.models.previews`); anything else answers 404, so the route cannot
hand out model weights or files elsewhere on the disk.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from pipelines.context import AtelierContext
from pipelines.models.previews import OutsideModelsDirError, preview_file

PREVIEW_ROUTE = "/atelier/v1/model-preview"


def previews_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(tags=["atelier"])

    @router.get(PREVIEW_ROUTE + "/{relative:path}")
    def model_preview(relative: str) -> FileResponse:
        try:
            path = preview_file(ctx.catalog.models_dir, relative)
        except (OutsideModelsDirError, FileNotFoundError, OSError):
            raise HTTPException(404, f"no preview image {relative!r} in the models folder") from None
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return router
