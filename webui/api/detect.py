"""/atelier/v1 routes of the Detect engine: provenance signals and learned deepfake detectors.

``POST /detect`` reads an image's provenance and, when a detector exists in
``models/detectors``, scores each face (P(fake)); the verdict states both. ``POST
/detect-video`` queues a video scan on the shared queue; ``GET /atelier/v1/jobs/{id}``
(webui/api/jobs.py) reports its progress, its report as ``info`` and its timeline PNG as the
result file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from pydantic import BaseModel, Field

from pipelines.context import AtelierContext
from pipelines.detect.image import analyse_image
from pipelines.detect.video import Sampling, VideoReport, analyse_video
from webui.api.jobs import caller, store_upload
from webui.errors import ApiError
from webui.imagecodec import decode_base64, open_image
from webui.api.jobwait import run_queued
from webui.ui.detect.provenance_actions import detect_response, inspect_file_bytes


class DetectRequest(BaseModel):
    image: str = Field(..., description="The file as base64 or a data URL (bytes as stored: metadata and C2PA are read)")
    detector: Optional[str] = Field(None, description="A file of models/detectors (GET-able from the Detect tab); "
                                                      "default: the first one. Without any, faces are not scored")
    threshold: Optional[float] = Field(None, ge=0.0, le=1.0, description="P(fake) from which a face counts as "
                                                                          "manipulated (default: the detector's)")


@dataclass(frozen=True)
class VideoScanResult:
    """A finished video scan as the jobs routes report it: the timeline PNG is the job's result
    file, the report its ``info``."""

    report: VideoReport

    @property
    def path(self) -> Optional[Path]:
        return self.report.timeline

    def info(self) -> dict[str, Any]:
        return self.report.to_json()


def _detector_name(ctx: AtelierContext, name: Optional[str], required: bool) -> Optional[str]:
    """The named detector (422 if unknown), else the first installed; None (or 501 when
    ``required``) when ``models/detectors`` holds none."""
    if name:
        try:
            ctx.detectors.path(name)
        except LookupError as exc:
            raise ApiError(422, f"detector: {exc}") from exc
        return name
    names = ctx.detectors.names()
    if not names and required:
        raise ApiError(501, f"detect-video: no deepfake detector in {ctx.detectors.folder} (DeepfakeBench, SBI or "
                            "DFDC weights, or one trained with `launch.py train-detector`); nothing is downloaded")
    return names[0] if names else None


async def _learned(ctx: AtelierContext, image: Image.Image, name: Optional[str],
                   threshold: Optional[float]) -> tuple[list[dict[str, Any]], str]:
    """(faces with their P(fake), the detector's verdict) — or none, saying why."""
    if name is None:
        return [], f"not scored (no deepfake detector in {ctx.detectors.folder})"
    report = await run_queued(ctx.queue, "detect-image",
                              lambda control: analyse_image(ctx, image, name, False, threshold))
    return report.to_json()["faces"], report.verdict


def detect_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    def inspect_upload(body: DetectRequest) -> tuple[Any, Optional[str], Image.Image]:
        raw = decode_base64(body.image, "image")
        report = inspect_file_bytes(raw)
        name = _detector_name(ctx, body.detector, required=False)
        return report, name, open_image(raw, "image", ctx.engine.limits.input_budget())

    @router.post("/detect", status_code=200)
    async def detect(body: DetectRequest) -> dict:
        """Provenance signals (infotext, record, C2PA, SDXL and Atelier marks), each face's
        P(fake) from a learned detector, and a verdict stating both; a file that is not an
        image or an unknown detector answers 422. Async: waiting for the queue holds no thread."""
        report, name, image = await run_in_threadpool(inspect_upload, body)
        faces, face_verdict = await _learned(ctx, image, name, body.threshold)
        return {**detect_response(report, faces, face_verdict), "detector": name}

    @router.post("/detect-video", status_code=200)
    def detect_video(
        owner: str = Depends(caller),
        video: UploadFile = File(..., description="mp4, webm, mov or gif"),
        detector: str = Form("", description="a file of models/detectors (default: the first)"),
        sampling: Literal["per second", "every"] = Form("per second", description="frames per second, or every k-th"),
        rate: float = Form(2.0, description="frames a second, or k"),
        max_frames: int = Form(300, ge=1, le=10000),
        threshold: Optional[float] = Form(None, ge=0.0, le=1.0),
    ) -> dict:
        """Queue a deepfake scan of a video (faces per sampled frame, tracks, timeline, flagged
        segments); poll ``GET /atelier/v1/jobs/{job_id}``."""
        name = _detector_name(ctx, detector or None, required=True)
        try:
            frames = (Sampling(per_second=rate, max_frames=max_frames) if sampling == "per second"
                      else Sampling(every=int(rate), max_frames=max_frames))
            frames.step(25.0)  # checks the numbers before anything is stored
        except ValueError as exc:
            raise ApiError(422, f"rate: {exc}") from exc
        path = store_upload(video, ctx.config.data_dir / "uploads", ctx.settings.faces_video_max_mb)

        def scan(control: Any) -> VideoScanResult:
            try:
                return VideoScanResult(analyse_video(ctx, path, name, frames, control, threshold))
            finally:
                path.unlink(missing_ok=True)

        job = ctx.queue.submit("detect-video", scan, owner=owner)
        return {"job_id": job.id, "status_url": f"/atelier/v1/jobs/{job.id}"}

    return router
