"""Merge: the trained model applied to every destination frame, back to a video or a picture sequence.

Faces come from the destination faceset (a face deleted there stays unswapped, as in
DeepFaceLab), so merging needs no detector. A preview of one frame uses the same code. The video
keeps the destination's frame timing and audio; every frame carries the provenance marks, and
each PNG of the sequence its provenance record.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from PIL import Image

from pipelines.dfl.aligned import AlignedMeta, aligned_files, read_meta
from pipelines.dfl.swapper import MergeOptions, TrainedSwapper
from pipelines.dfl.workspace import Workspace, WorkspaceError, disk_space
from pipelines.fileio import atomic_open
from pipelines.jobs import JobControl, JobInterrupted
from pipelines.media.video import VideoWriter, probe
from pipelines.outputs import encode_image
from pipelines.provenance.record import ProvenanceRecord
from pipelines.provenance.stamp import mark_image

Output = Literal["video", "images", "both"]
OUTPUTS: tuple[Output, ...] = ("video", "images", "both")
OPERATION = "dfl-merge"
JOB_KIND = "merge-face"


@dataclass(frozen=True)
class MergeReport:
    frames: int
    faces: int
    video: Optional[Path]
    images: Optional[Path]
    seconds: float

    def info(self) -> dict:
        return {"frames": self.frames, "faces": self.faces, "video": str(self.video) if self.video else None,
                "images": str(self.images) if self.images else None, "seconds": round(self.seconds, 2)}


def dst_faces(ws: Workspace) -> dict[str, list[AlignedMeta]]:
    """Aligned destination faces by source frame file."""
    by_frame: dict[str, list[AlignedMeta]] = {}
    for path in aligned_files(ws.aligned_dir("dst")):
        meta = read_meta(path)
        by_frame.setdefault(meta.source_file, []).append(meta)
    if not by_frame:
        raise WorkspaceError("the dst faceset is empty: extract the destination faces first")
    return by_frame


def _centre(meta: AlignedMeta) -> np.ndarray:
    return meta.source_landmarks_array().mean(0)


def merge_frame(swapper: TrainedSwapper, frame: np.ndarray, faces: list[AlignedMeta], options: MergeOptions,
                previous: Optional[list[AlignedMeta]] = None) -> np.ndarray:
    """One destination frame with every listed face swapped (motion from the previous frame's faces)."""
    out = frame
    for meta in faces:
        motion = None
        if options.motion_blur > 0 and previous:
            nearest = min(previous, key=lambda m: float(np.linalg.norm(_centre(m) - _centre(meta))))
            motion = _centre(meta) - _centre(nearest)
        out = swapper.swap_face(out, meta.source_landmarks_array(), options, motion)
    return out


def merge_preview(ws: Workspace, swapper: TrainedSwapper, frame_number: int, options: MergeOptions) -> Image.Image:
    """Frame ``frame_number`` (0-based, as extracted) merged with ``options``: the live preview."""
    meta = ws.read_frames_meta("dst")
    frames = meta["frames"]
    if not 0 <= frame_number < len(frames):
        raise WorkspaceError(f"frame {frame_number} is out of range: the destination has {len(frames)} frames "
                             f"(0..{len(frames) - 1})")
    swapper.check(options)
    by_frame = dst_faces(ws)
    name = frames[frame_number]["file"]
    rgb = np.asarray(Image.open(ws.frames_dir("dst") / name).convert("RGB"))
    previous = by_frame.get(frames[frame_number - 1]["file"]) if frame_number > 0 else None
    return Image.fromarray(merge_frame(swapper, rgb, by_frame.get(name, []), options, previous))


def _video_like(ws: Workspace, meta: dict):
    info = probe(ws.root / meta["video"])
    if meta.get("resampled"):
        fps = Fraction(meta["fps"])
        info = replace(info, fps=fps, time_base=1 / fps)
    return info


def merge_all(ws: Workspace, swapper: TrainedSwapper, options: MergeOptions, output: Output = "video",
              marks: bool = True, control: Optional[JobControl] = None) -> MergeReport:
    """Merge every destination frame; write ``result.mp4`` (dst fps + audio) and/or ``merged/*.png``."""
    if output not in OUTPUTS:
        raise WorkspaceError(f"output {output!r}: use one of {', '.join(OUTPUTS)}")
    swapper.check(options)
    control = control or JobControl()
    meta = ws.read_frames_meta("dst")
    frames = meta["frames"]
    by_frame = dst_faces(ws)
    want_video = output in ("video", "both")
    if want_video and meta.get("kind") != "video":
        raise WorkspaceError("the destination came from pictures, not a video: choose the picture sequence output")
    want_images = output in ("images", "both")
    if want_images:
        ws.merged_dir.mkdir(parents=True, exist_ok=True)
        for old in ws.merged_dir.glob("*.png"):
            old.unlink()
    record = ProvenanceRecord.new(OPERATION, marks_enabled=marks)
    control.start(len(frames), textinfo="Merging")
    started, faces_done = time.monotonic(), 0
    resampled = bool(meta.get("resampled"))
    with disk_space(f"the merged result in {ws.root}"), ExitStack() as stack:
        video = None
        if want_video:
            # A cancelled or failed merge leaves the previous result.mp4, never half a file.
            handle = stack.enter_context(atomic_open(ws.result_video, "wb"))
            video = stack.enter_context(VideoWriter(handle, _video_like(ws, meta), audio_from=ws.root / meta["video"]))
        previous = None
        for n, frame in enumerate(frames):
            if control.interrupted.is_set():
                raise JobInterrupted(f"merge cancelled at frame {n}")
            rgb = np.asarray(Image.open(ws.frames_dir("dst") / frame["file"]).convert("RGB"))
            faces = by_frame.get(frame["file"], [])
            merged = merge_frame(swapper, rgb, faces, options, previous) if faces else rgb
            previous, faces_done = faces, faces_done + len(faces)
            marked = mark_image(Image.fromarray(merged), record)
            if video is not None:
                video.write(np.asarray(marked.convert("RGB")), None if resampled else frame.get("pts"))
            if want_images:
                data, _ = encode_image(marked, "png", f"Merged with a trained face model, {options.describe()}",
                                       {}, None)
                with atomic_open(ws.merged_dir / f"{n:05d}.png", "wb") as out:
                    out.write(data)
            control.progress.textinfo = f"Merging frame {n + 1}/{len(frames)}"
            control.step(n + 1)
    return MergeReport(len(frames), faces_done, ws.result_video if want_video else None,
                       ws.merged_dir if want_images else None, time.monotonic() - started)
