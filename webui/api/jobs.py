"""/atelier/v1 job routes: start a video face swap (multipart upload), then poll, fetch, cancel.

``GET /jobs/{id}`` answers for every job of the one queue (generation too), so a client can
follow any long-running work the same way. Uploads are stored under ``<data-dir>/uploads`` with
a generated name (the client's file name is only used as the output label) and deleted when
their job ends.
"""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from typing import Any, Optional

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.faces.video_swap import VideoSwapRequest, start_video_swap
from pipelines.jobs import Job, JobQueue, JobState
from pipelines.media.video import VideoError
from webui.middleware.auth_gate import authenticated_user
from webui.errors import ApiError, user_message
from webui.imagecodec import open_image

_CHUNK = 1 << 20
_VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".gif", ".avi"})


_basic = HTTPBasic(auto_error=False)


def caller(request: Request, credentials: Optional[HTTPBasicCredentials] = Depends(_basic)) -> str:
    """Who is asking, for job ownership: the user the login gate let in (HTTP Basic or a
    browser's session), else the unchecked HTTP Basic name, else "api". Jobs started over the
    API belong to their caller; only they may cancel."""
    user = authenticated_user(request.scope) or (credentials.username if credentials is not None else None)
    return f"api:{user}" if user else "api"


def result_files(job: Job) -> list[Path]:
    """Files a finished job produced: a video swap's ``path``, a generation's ``paths``."""
    result = job.result
    if job.state is not JobState.DONE or result is None:
        return []
    path = getattr(result, "path", None)
    return [Path(path)] if path is not None else [Path(p) for p in getattr(result, "paths", None) or []]


def job_status(queue: JobQueue, job: Job) -> dict[str, Any]:
    """A job as a client polls it: state, progress fraction, ETA, textinfo, result or error."""
    progress = job.control.progress
    running = job.state is JobState.RUNNING
    status: dict[str, Any] = {
        "id": job.id, "kind": job.kind, "state": job.state.value,
        "progress": 1.0 if job.state is JobState.DONE else progress.fraction,
        "eta": progress.eta_seconds if running else None,
        "textinfo": progress.textinfo, "queue_position": queue.position(job),
    }
    files = result_files(job)
    if files:
        status["result_url"] = f"/atelier/v1/jobs/{job.id}/result"
        status["result_urls"] = [f"/atelier/v1/jobs/{job.id}/result?index={i}" for i in range(len(files))]
    if job.state is JobState.DONE and callable(getattr(job.result, "info", None)):
        status["info"] = job.result.info()
    if job.error is not None:
        status["error"] = user_message(job.error)
    return status


def _find(queue: JobQueue, job_id: str) -> Job:
    job = queue.get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r} (finished jobs are kept for the last 200)")
    return job


def store_upload(upload: UploadFile, folder: Path, limit_mb: float) -> Path:
    """Copy an uploaded video to ``folder`` under a generated name, refusing more than ``limit_mb``."""
    suffix = Path(upload.filename or "").suffix.lower()
    path = folder / f"{uuid.uuid4().hex}{suffix if suffix in _VIDEO_SUFFIXES else '.video'}"
    folder.mkdir(parents=True, exist_ok=True)
    limit, size = int(limit_mb * (1 << 20)), 0
    with path.open("wb") as handle:
        while chunk := upload.file.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                handle.close()
                path.unlink(missing_ok=True)
                raise ApiError(413, f"video: larger than the {limit_mb:g} MB limit (setting faces_video_max_mb)")
            handle.write(chunk)
    if size == 0:
        path.unlink(missing_ok=True)
        raise ApiError(422, "video: the uploaded file is empty")
    return path


def _image(upload: Optional[UploadFile], field: str) -> Optional[Image.Image]:
    return open_image(upload.file.read(), field) if upload is not None else None


def jobs_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    @router.post("/faces/swap-video")
    def faces_swap_video(
        owner: str = Depends(caller),
        video: UploadFile = File(..., description="mp4, webm, mov or gif"),
        source_image: Optional[UploadFile] = File(None, description="image with the face to put in the video "
                                                  "(not needed with a 'trained model: <name>' method)"),
        reference_image: Optional[UploadFile] = File(None, description="swap only people who look like this face"),
        source_face_index: int = Form(0),
        target: str = Form("0", description="face index on the first frame with faces, or 'all'"),
        reference_max_distance: Optional[float] = Form(
            None, description="identity distance for the reference face (default: the embedding model's own)"),
        face_order: str = Form("left-right"),
        method: str = Form("auto", description="auto, inswapper, classic or 'trained model: <name>'"),
        name: str = Form("", description="output label (default: the video's file name)"),
    ) -> dict:
        """Queue a face swap over a video; poll ``GET /atelier/v1/jobs/{job_id}``."""
        source = _image(source_image, "source_image")
        if source is None and ctx.faces.needs_source(method):
            raise ApiError(422, "source_image: required unless the method is a 'trained model: <name>'")
        reference = _image(reference_image, "reference_image")
        path = store_upload(video, ctx.config.data_dir / "uploads", ctx.settings.faces_video_max_mb)
        try:
            body = VideoSwapRequest(video=path, source_face_index=source_face_index, target=target,
                                    reference_max_distance=reference_max_distance, face_order=face_order,
                                    method=method, name=name or Path(video.filename or "video").stem)
            job = start_video_swap(ctx, body, source, reference=reference, owner=owner, discard_video=True)
        except VideoError as exc:
            path.unlink(missing_ok=True)
            raise ApiError(422, f"video: {video.filename or 'upload'}: {exc.reason}") from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {"job_id": job.id, "status_url": f"/atelier/v1/jobs/{job.id}"}

    @router.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict:
        """State, progress (0..1), ETA (s), textinfo, and result_url or error of any queued job."""
        return job_status(ctx.queue, _find(ctx.queue, job_id))

    @router.get("/jobs/{job_id}/result", response_class=FileResponse)
    def get_result(job_id: str, index: int = 0) -> FileResponse:
        """The file a finished job wrote (``index`` for jobs with several)."""
        job = _find(ctx.queue, job_id)
        if not job.done.is_set():
            raise ApiError(409, f"job {job_id} is {job.state.value}; its result is not ready")
        if job.state is not JobState.DONE:
            raise ApiError(409, f"job {job_id} {job.state.value}: {user_message(job.error) if job.error else ''}".rstrip(": "))
        files = result_files(job)
        if not 0 <= index < len(files):
            raise ApiError(404, f"job {job_id} has no result file {index} ({len(files)} file(s))")
        if not files[index].is_file():
            raise ApiError(404, f"job {job_id}: its result file was moved or deleted")
        media_type = mimetypes.guess_type(files[index].name)[0] or "application/octet-stream"
        return FileResponse(files[index], media_type=media_type, filename=files[index].name)

    @router.post("/jobs/{job_id}/cancel")
    def cancel_job(job_id: str, owner: str = Depends(caller)) -> dict:
        """Stop a job: one you started (jobs started by A1111 routes have no owner: anyone may)."""
        job = _find(ctx.queue, job_id)
        if not ctx.queue.interrupt(job_id, owner=owner if job.owner is not None else None):
            if job.done.is_set():
                raise ApiError(409, f"job {job_id} already ended ({job.state.value})")
            raise ApiError(403, f"job {job_id} belongs to someone else")
        return {"id": job_id, "cancelled": True, "state": job.state.value}

    return router
