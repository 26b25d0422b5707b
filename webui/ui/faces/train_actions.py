"""What the Faces tab's "Train a face model" section does, as plain functions (no Gradio), so tests call them.

DeepFaceLab's eight steps on one named workspace: clear; frames of the source and destination (an
upload or a server path inside the data or outputs folder); faceset extract, gallery with delete,
sort, pack; training as a queued job with its preview grid and loss plot; merge with a live preview
of one frame; the merged video. Every long step is a job on the app's queue (one accelerator user
at a time), owned by the browser session that started it.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence

from PIL import Image

from pipelines.context import AtelierContext
from pipelines.dfl import extract, frames, merge, pack, sort
from pipelines.dfl.aligned import aligned_files
from pipelines.dfl.model import SHAPE_FIELDS
from pipelines.dfl.store import CONFIG, model_dir, model_names
from pipelines.dfl.swapper import MergeOptions
from pipelines.dfl.train import Trainer, TrainOptions, prepare_config, run_training
from pipelines.dfl.workspace import Workspace, check_side, workspace_names
from pipelines.jobs import Job, JobControl
from webui.errors import UserError, user_message
from webui.ui.generation.actions import finish
from webui.ui.faces.actions import notice_needed

GALLERY_LIMIT = 300
MERGED_FOLDER = "dfl-merged"


def _user(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an engine call; a mistake the user can fix becomes a notice."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, LookupError, OSError) as exc:
        raise UserError(user_message(exc)) from exc


def workspace(ctx: AtelierContext, name: str) -> Workspace:
    if not (name or "").strip():
        raise UserError("Name a workspace first (letters, digits, '.', '_', '-').")
    return _user(Workspace.named, ctx.config.data_dir, name)


def workspace_choices(ctx: AtelierContext) -> list[str]:
    return workspace_names(ctx.config.data_dir)


def model_choices(ctx: AtelierContext) -> list[str]:
    return model_names(ctx.config.models_dir)


def summary(ctx: AtelierContext, name: str) -> str:
    """One line per side: frames, aligned faces, packed; merged frames and the video."""
    if not (name or "").strip():
        return "No workspace chosen."
    info = workspace(ctx, name).create().summary()
    lines = [f"**{info['name']}** (`{info['path']}`)"]
    for side in ("src", "dst"):
        s = info[side]
        lines.append(f"- {side}: {s['frames']} frames, {s['aligned']} aligned faces{', packed' if s['packed'] else ''}")
    lines.append(f"- merged: {info['merged']} frames{', video ready' if info['result'] else ''}")
    return "\n".join(lines)


def clear(ctx: AtelierContext, name: str, confirmed: bool) -> str:
    ws = workspace(ctx, name)
    if not confirmed:
        raise UserError(f"Tick the confirmation first: clearing {ws.name!r} deletes its frames, facesets and results.")
    _user(ws.clear, confirm=True)
    return f"Cleared workspace {ws.name}."


def allowed_roots(ctx: AtelierContext) -> list[Path]:
    """Server folders a path typed in the UI may point into (nothing else on the machine is read)."""
    return [ctx.config.data_dir.resolve(), ctx.outputs_dir.resolve()]


def server_input(ctx: AtelierContext, text: str) -> Path:
    path = Path(text.strip()).expanduser()
    resolved = path.resolve()
    if not any(resolved == root or root in resolved.parents for root in allowed_roots(ctx)):
        roots = " or ".join(str(r) for r in allowed_roots(ctx))
        raise UserError(f"{text.strip()}: server paths must be inside {roots}.")
    if not resolved.exists():
        raise UserError(f"{text.strip()}: no such file or folder.")
    return resolved


def upload_input(ctx: AtelierContext, uploads: Sequence[str]) -> Path:
    """One uploaded video as it is; several pictures gathered into one folder."""
    files = [Path(p) for p in uploads if p]
    if len(files) == 1 and files[0].suffix.lower() not in frames.IMAGE_SUFFIXES:
        return files[0]
    folder = ctx.config.data_dir / "uploads" / f"dfl-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    for i, path in enumerate(files):
        if path.suffix.lower() not in frames.IMAGE_SUFFIXES:
            shutil.rmtree(folder)
            raise UserError(f"{path.name}: upload one video, or pictures only ({', '.join(frames.IMAGE_SUFFIXES)}).")
        shutil.copyfile(path, folder / f"{i:05d}{path.suffix.lower()}")
    return folder


def start_frames(ctx: AtelierContext, name: str, side: str, uploads: Optional[Sequence[str]], server_path: str,
                 fps: Optional[float], owner: Optional[str] = None) -> Job:
    """Queue frame extraction for one side from the upload, else the server path."""
    ws = workspace(ctx, name).create()
    side = _user(check_side, side)
    if uploads:
        source = upload_input(ctx, uploads)
    elif (server_path or "").strip():
        source = server_input(ctx, server_path)
    else:
        raise UserError(f"Upload a video or pictures for {side}, or type a server path.")
    rate = float(fps) if fps else None
    return ctx.queue.submit("dfl-frames", lambda control: frames.extract_frames(ws, side, source, rate, control),
                            owner=owner)


def start_extract(ctx: AtelierContext, name: str, side: str, face_type: str, size: int, all_faces: bool,
                  owner: Optional[str] = None) -> Job:
    ws = workspace(ctx, name)
    side = _user(check_side, side)
    _user(ws.read_frames_meta, side)
    return ctx.queue.submit("dfl-extract", lambda control: extract.extract_faceset(
        ws, side, ctx.faces, face_type, int(size), "all" if all_faces else "largest", control=control), owner=owner)


def status(ctx: AtelierContext, job: Job) -> str:
    position = ctx.queue.position(job)
    if position > 0:
        return f"In queue: {position} job(s) ahead"
    progress = job.control.progress
    text = progress.textinfo or "Starting…"
    return f"{text} ({progress.step}/{progress.total_steps})" if progress.total_steps else text


def report(job: Job) -> str:
    """The finished step's one-line report (its failure as a notice)."""
    done = finish(job)
    return done.describe() if hasattr(done, "describe") else str(done)


def gallery(ctx: AtelierContext, name: str, side: str) -> list[tuple[Image.Image, str]]:
    """The side's aligned faces (file name as caption), at most ``GALLERY_LIMIT``."""
    ws = workspace(ctx, name)
    items = []
    for path in aligned_files(ws.aligned_dir(_user(check_side, side)))[:GALLERY_LIMIT]:
        with Image.open(path) as image:
            items.append((image.convert("RGB"), path.name))
    return items


def delete(ctx: AtelierContext, name: str, side: str, names: Sequence[str]) -> str:
    if not names:
        raise UserError("Select a face in the gallery first.")
    count = _user(sort.delete_faces, workspace(ctx, name), side, list(names))
    return f"Deleted {count} face{'s' if count != 1 else ''} from {side}."


def sort_faces(ctx: AtelierContext, name: str, side: str, method: str, keep: Optional[float]) -> str:
    files = _user(sort.sort_faceset, workspace(ctx, name), side, method, int(keep) if keep else None)
    return f"{side}: {len(files)} faces sorted by {method}."


def pack_faces(ctx: AtelierContext, name: str, side: str) -> str:
    path = _user(pack.pack_faceset, workspace(ctx, name), side)
    return f"Packed {side} into {path.name}."


def start_training(ctx: AtelierContext, name: str, model: str, preset: str = "quick96", *,
                   changes: Optional[dict[str, Any]] = None, iterations: int = 0, save_minutes: float = 5.0,
                   preview_every: int = 50, owner: Optional[str] = None) -> Job:
    """Check the facesets and the model now (a notice at once), then queue the training job."""
    ws = workspace(ctx, name)
    if not (model or "").strip():
        raise UserError("Name the model (it is saved in models/dfl/<name>/).")
    folder = _user(model_dir, ctx.config.models_dir, model.strip())
    changes = {k: v for k, v in (changes or {}).items() if v is not None}
    if (folder / CONFIG).is_file():  # resuming: the form's shape fields describe new models only
        changes = {k: v for k, v in changes.items() if k not in SHAPE_FIELDS}
    config, resume = _user(prepare_config, folder, preset, **changes)
    options = _user(TrainOptions, iterations=int(iterations or 0), save_minutes=float(save_minutes),
                    preview_every=int(preview_every or 0))
    trainer = _user(Trainer, ws, folder, config, resume, ctx.policy.device, options)
    return ctx.queue.submit("train-face", lambda control: run_training(trainer, control), owner=owner)


def training_view(ctx: AtelierContext, job: Job, model: str) -> tuple[str, Optional[Image.Image], Optional[Image.Image]]:
    """(status line, latest preview grid, loss plot) for a training job."""
    preview = job.control.progress.preview
    loss_file = model_dir(ctx.config.models_dir, model.strip()) / "loss.png"
    loss = Image.open(loss_file).copy() if loss_file.is_file() else None
    return status(ctx, job), preview if isinstance(preview, Image.Image) else None, loss


def training_result(job: Job) -> str:
    info = finish(job).info()
    return (f"{'Stopped' if info['stopped'] else 'Finished'} at iteration {info['iteration']} "
            f"({info['it_per_s']} it/s, loss src {info['loss_src']}, dst {info['loss_dst']}); saved.")


def stop(ctx: AtelierContext, job_id: Optional[str], owner: Optional[str]) -> str:
    """Stop this session's job; training saves before it ends."""
    if job_id and ctx.queue.interrupt(job_id, owner=owner):
        return "Stopping… (training saves first)"
    return "No job of yours is running."


def merge_options(mask_mode: str, erode: float, blur: float, face_scale: float, colour: str, sharpen: float,
                  motion_blur: float) -> MergeOptions:
    return _user(MergeOptions, mask_mode, int(erode), int(blur), int(face_scale), colour, float(sharpen),
                 float(motion_blur))


def _swapper(ctx: AtelierContext, model: str) -> Any:
    """The model to merge with, once the responsible-use notice is acknowledged (merging swaps faces)."""
    if notice_needed(ctx):
        raise UserError("Read and acknowledge the responsible-use notice at the top of the Faces tab first.")
    if not (model or "").strip():
        raise UserError("Pick a trained model.")
    return _user(ctx.faces.trained_swapper, model.strip())


def preview(ctx: AtelierContext, name: str, model: str, frame: int, options: MergeOptions) -> Image.Image:
    """One destination frame merged with ``options`` (the live preview). One small inference, run at once
    rather than on the queue: a training job holds the queue until it is stopped."""
    ws = workspace(ctx, name)
    swapper = _swapper(ctx, model)
    return _user(merge.merge_preview, ws, swapper, int(frame), options)


def frame_count(ctx: AtelierContext, name: str) -> int:
    try:
        return len(workspace(ctx, name).read_frames_meta("dst")["frames"])
    except (UserError, ValueError):
        return 0


def start_merge(ctx: AtelierContext, name: str, model: str, options: MergeOptions, output: str = "video",
                owner: Optional[str] = None) -> Job:
    """Queue the merge of every destination frame; the video is also saved under ``outputs/dfl-merged/``."""
    ws = workspace(ctx, name)
    swapper = _swapper(ctx, model)
    _user(merge.dst_faces, ws)

    def job(control: JobControl) -> tuple[merge.MergeReport, Optional[Path]]:
        done = merge.merge_all(ws, swapper, options, output, marks=ctx.writer.provenance_marks, control=control)
        copy = None
        if done.video is not None:
            copy = ctx.writer.save_stream(MERGED_FOLDER, f"{ws.name}-{model}", ".mp4",
                                          lambda handle: handle.write(done.video.read_bytes()))
        return done, copy

    return ctx.queue.submit(merge.JOB_KIND, job, owner=owner)


def merge_result(job: Job) -> tuple[Optional[str], str]:
    """(video under outputs/ or None, summary)."""
    done, copy = finish(job)
    parts = [f"{done.frames} frames, {done.faces} faces merged in {done.seconds:.1f}s"]
    if copy is not None:
        parts.append(f"video {copy}")
    if done.images is not None:
        parts.append(f"pictures in {done.images}")
    return (str(copy) if copy else None), "; ".join(parts)
