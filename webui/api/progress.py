"""A1111's ``/progress``, ``/interrupt`` and ``/skip``: light routes that never wait behind
generation (async, no engine lock)."""

from __future__ import annotations

import time
from typing import Any, Optional

from fastapi import APIRouter
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.jobs import Job
from webui.api.schemas import ProgressResponse
from webui.imagecodec import encode_png_base64


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


def progress_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

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

    @router.post("/interrupt")
    async def interrupt() -> dict:
        ctx.queue.interrupt()
        return {}

    @router.post("/skip")
    async def skip() -> None:
        ctx.queue.skip()

    return router
