"""What the Faces tab's video section does, as plain functions (no Gradio), so tests call them.

Start queues a video swap owned by the browser session; the section polls the job for its
status line, then shows the finished video; cancel reaches only the session's own job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PIL import Image
from pydantic import ValidationError

from pipelines.context import AtelierContext
from pipelines.faces.video_swap import VideoSwapRequest, VideoSwapResult, start_video_swap
from pipelines.jobs import Job
from webui.errors import UserError, user_message
from webui.ui.generation.actions import finish


def parse_target(text: str) -> str | int:
    """The target box: a face index (0 = first in face order) or "all"."""
    text = (text or "").strip().lower()
    if text in ("all", "*"):
        return "all"
    if text.isdigit():
        return int(text)
    raise UserError(f"Target face: write a face number (0 = first) or 'all', not {text!r}.")


def start(ctx: AtelierContext, video: Optional[str], source: Optional[Image.Image], *, target: str = "0",
          source_face_index: int = 0, method: str = "auto", face_order: str = "left-right",
          reference: Optional[Image.Image] = None, reference_max_distance: Optional[float] = None,
          owner: Optional[str] = None) -> Job:
    """Queue the swap of ``source``'s face into the ``video`` file (a distance of 0 or None: the
    embedding model's calibrated one)."""
    if not video:
        raise UserError("Upload a video to swap faces in.")
    if source is None and ctx.faces.needs_source(method):
        raise UserError("Add a source image with the face to use (or pick a trained model as the method).")
    try:
        request = VideoSwapRequest(video=Path(video), target=parse_target(target),
                                   source_face_index=int(source_face_index or 0), method=method,
                                   face_order=face_order, reference_max_distance=reference_max_distance or None,
                                   name=Path(video).stem)
        return start_video_swap(ctx, request, source, reference=reference, owner=owner)
    except (ValueError, ValidationError) as exc:
        raise UserError(user_message(exc)) from exc


def status(ctx: AtelierContext, job: Job) -> str:
    """One line while the job waits or runs: queue position, then frames, frames/s and ETA."""
    position = ctx.queue.position(job)
    if position > 0:
        return f"In queue: {position} job(s) ahead"
    return job.control.progress.textinfo or "Starting…"


def result(job: Job) -> tuple[str, str]:
    """(video path, summary) of a finished job; its failure or cancel as a :class:`UserError`."""
    done: VideoSwapResult = finish(job)
    info = done.info()
    summary = (f"{info['frames']} frames ({info['swapped_frames']} with a swapped face) in {info['seconds']}s, "
               f"{info['frames_per_second']} frames/s, method {info['method']}, "
               f"{'audio kept' if info['audio'] else 'no audio in the source'}")
    return str(done.path), summary


def cancel(ctx: AtelierContext, job_id: Optional[str], owner: Optional[str]) -> str:
    """Stop this session's running swap."""
    if job_id and ctx.queue.interrupt(job_id, owner=owner):
        return "Cancelling…"
    return "No video swap of yours is running."
