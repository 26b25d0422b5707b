"""Extract frames of one side from a video (full fps or a chosen one) or a folder of images.

The video itself is copied into the workspace, and each frame's timestamp is kept in
``frames.json``, so merging can write the destination back with its own timing and audio.
Extracting again replaces the side's frames and the facesets made from them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipelines.dfl.workspace import Side, Workspace, WorkspaceError, disk_space
from pipelines.jobs import JobControl, JobInterrupted
from pipelines.media.video import VideoError, probe, read_frames

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass(frozen=True)
class FramesReport:
    side: Side
    frames: int
    fps: Optional[Fraction]
    has_audio: bool

    def describe(self) -> str:
        rate = f" at {float(self.fps):g} fps" if self.fps else ""
        return f"{self.side}: {self.frames} frames{rate}{', with audio' if self.has_audio else ''}"


def _save_frame(rgb: np.ndarray, path: Path) -> None:
    with disk_space(f"frame {path.name} into {path.parent}"):
        Image.fromarray(rgb).save(path, compress_level=1)


def _reset_side(ws: Workspace, side: Side) -> None:
    """Old frames, aligned faces, pack and copied video go: they describe the previous input."""
    folder = ws.frames_dir(side)
    if folder.exists():
        shutil.rmtree(folder)
    for old in ws.root.glob(f"data_{side}.*"):
        old.unlink()
    ws.create()


def extract_frames(ws: Workspace, side: Side, source: Path, fps: Optional[float] = None,
                   control: Optional[JobControl] = None) -> FramesReport:
    """Frames of ``source`` (a video file or a folder of pictures) into ``data_<side>/`` as PNG."""
    control = control or JobControl()
    source = Path(source)
    if not source.exists():
        raise WorkspaceError(f"{source}: no such file or folder")
    if fps is not None and fps <= 0:
        raise WorkspaceError("fps must be more than 0 (leave it empty for every frame)")
    _reset_side(ws, side)
    if source.is_dir():
        return _from_images(ws, side, source, control)
    return _from_video(ws, side, source, fps, control)


def _from_images(ws: Workspace, side: Side, folder: Path, control: JobControl) -> FramesReport:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise WorkspaceError(f"{folder}: no pictures ({', '.join(IMAGE_SUFFIXES)})")
    control.start(len(files), textinfo=f"frames {side}")
    frames = []
    for i, path in enumerate(files):
        _check_interrupt(control)
        try:
            rgb = np.asarray(Image.open(path).convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise WorkspaceError(f"{path.name}: not a readable picture ({exc})") from exc
        name = f"{i:05d}.png"
        _save_frame(rgb, ws.frames_dir(side) / name)
        frames.append({"file": name, "source": path.name})
        control.step(i + 1)
    ws.write_frames_meta(side, {"kind": "images", "source": folder.name, "frames": frames})
    return FramesReport(side, len(frames), None, False)


def _check_interrupt(control: JobControl) -> None:
    if control.interrupted.is_set():
        raise JobInterrupted("frame extraction cancelled")


def _from_video(ws: Workspace, side: Side, video: Path, fps: Optional[float], control: JobControl) -> FramesReport:
    try:
        info = probe(video)
    except VideoError as exc:
        raise WorkspaceError(str(exc)) from exc
    copy = ws.root / f"data_{side}{video.suffix.lower() or '.mp4'}"
    shutil.copyfile(video, copy)
    step = 1.0 / fps if fps and fps < float(info.fps) else None
    control.start(max(info.frame_count, 1), textinfo=f"frames {side}")
    frames, next_time = [], 0.0
    try:
        for frame in read_frames(copy):
            _check_interrupt(control)
            if step is not None:
                if frame.time + 1e-6 < next_time:
                    continue
                next_time += step
            name = f"{len(frames):05d}.png"
            _save_frame(frame.image, ws.frames_dir(side) / name)
            frames.append({"file": name, "index": frame.index, "pts": frame.pts, "time": round(frame.time, 6)})
            control.step(len(frames))
    except VideoError as exc:
        raise WorkspaceError(str(exc)) from exc
    if not frames:
        raise WorkspaceError(f"{video.name}: the video has no frames")
    out_fps = Fraction(fps).limit_denominator(1001) if step is not None else info.fps
    ws.write_frames_meta(side, {
        "kind": "video", "source": video.name, "video": copy.name, "fps": str(out_fps),
        "time_base": str(info.time_base), "resampled": step is not None, "width": info.width,
        "height": info.height, "has_audio": info.has_audio, "frames": frames,
    })
    return FramesReport(side, len(frames), out_fps, info.has_audio)


def frame_files(ws: Workspace, side: Side) -> list[Path]:
    """The side's frames in order (from ``frames.json``)."""
    meta = ws.read_frames_meta(side)
    return [ws.frames_dir(side) / f["file"] for f in meta["frames"]]
