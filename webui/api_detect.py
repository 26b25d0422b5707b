"""/atelier/v1 routes of the Detect engine: provenance now, learned face detectors to come."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pipelines.context import AtelierContext
from webui.provenance_actions import detect_response, inspect_base64


class DetectRequest(BaseModel):
    image: str = Field(..., description="The file as base64 or a data URL (bytes as stored: metadata and C2PA are read)")


def detect_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    @router.post("/detect", status_code=200)
    def detect(body: DetectRequest) -> dict:
        """Provenance signals (infotext, record, C2PA, SDXL and Atelier marks) and a verdict;
        a file that is not an image answers 422."""
        return detect_response(inspect_base64(body.image))

    return router
