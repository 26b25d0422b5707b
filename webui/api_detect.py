"""/atelier/v1 routes of the Detect engine (provenance and deepfake detection).

Placeholders answering 501 until the engine lands; the owner of that engine replaces them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from pipelines.context import AtelierContext


def detect_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    @router.post("/detect", status_code=200)
    def detect() -> dict:
        raise HTTPException(501, "detect: the Detect engine (provenance and deepfake detection) is not available in this build yet")

    return router
