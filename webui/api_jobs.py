"""/atelier/v1 routes of the Faces video engine (video swap jobs).

Placeholders answering 501 until the engine lands; the owner of that engine replaces them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from pipelines.context import AtelierContext


def jobs_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    @router.post("/faces/swap-video", status_code=200)
    def faces_swap_video() -> dict:
        raise HTTPException(501, "faces/swap-video: the Faces video engine (video swap jobs) is not available in this build yet")

    return router
