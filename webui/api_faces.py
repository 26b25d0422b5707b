"""/atelier/v1 routes of the Faces engine (face detection and swap).

Placeholders answering 501 until the engine lands; the owner of that engine replaces them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from pipelines.context import AtelierContext


def faces_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    @router.post("/faces/detect", status_code=200)
    def faces_detect() -> dict:
        raise HTTPException(501, "faces/detect: the Faces engine (face detection and swap) is not available in this build yet")

    @router.post("/faces/swap", status_code=200)
    def faces_swap() -> dict:
        raise HTTPException(501, "faces/swap: the Faces engine (face detection and swap) is not available in this build yet")

    return router
