"""Face swap on a video, as one queued job: decode → detect → track → swap → mark → encode.

Frames stream through one at a time (any length of video fits in memory). Faces are tracked
across frames, so "target face 1" means the person who was face 1 on the first frame that has
faces, even after people cross or the detector misses them for a few frames. The job reports
frames done / total, frames per second and ETA, stops at the frame its owner cancels it, and
writes ``outputs/faces/NNNNN-<name>.mp4`` (h264 with the source audio) only when complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Optional, Protocol, Sequence, Union

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator

from pipelines.faces.swap import METHODS, SwapOptions, distance, reference_threshold
from pipelines.faces.tracking import FaceTracker
from pipelines.faces.types import DetectedFace, FaceOrder
from pipelines.jobs import Job, JobControl, JobInterrupted
from pipelines.media.video import VideoError, VideoInfo, VideoWriter, probe, read_frames
from pipelines.outputs import OutputWriter
from pipelines.provenance.record import ProvenanceRecord, Source
from pipelines.provenance.stamp import mark_image

if TYPE_CHECKING:
    from pipelines.context import AtelierContext
    from pipelines.faces.engine import FaceEngine

OUTPUT_FOLDER = "faces"
JOB_KIND = "faces-video"

FrameMarker = Callable[[np.ndarray], np.ndarray]
"""Adds the provenance mark to one RGB frame (the same mark every swapped output carries)."""


class FrameSwapper(Protocol):
    """What the video job needs from the Faces engine, with the source face already prepared."""

    method: str

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces of one frame, numbered in the request's face order."""

    def swap(self, image: np.ndarray, targets: Sequence[DetectedFace]) -> np.ndarray:
        """``image`` with the source face put on each of ``targets``."""


class VideoSwapRequest(BaseModel):
    """Which faces of the video to replace, and how."""

    model_config = ConfigDict(extra="forbid")

    video: Path
    source_face_index: NonNegativeInt = 0
    target: Union[Literal["all"], NonNegativeInt] = Field(
        0, description="Face index on the first frame that has faces (in face_order), or 'all'")
    reference_max_distance: Optional[float] = Field(
        None, gt=0, le=2, description="With a reference face: swap the people within this identity distance "
                                      "(None: the embedding model's calibrated threshold)")
    face_order: FaceOrder = "left-right"
    method: str = Field("auto", description="auto, inswapper, classic or 'trained model: <name>' (models/dfl)")
    name: str = Field("", description="Output file label; the video's name when empty")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from pipelines.dfl.faces_method import trained_name

        if value in METHODS or trained_name(value):
            return value
        raise ValueError(f"method {value!r}: use one of {', '.join(METHODS)} or 'trained model: <name>'")


@dataclass(frozen=True)
class VideoSwapResult:
    """The finished video and what happened on the way."""

    path: Path
    frames: int
    swapped_frames: int
    seconds: float
    method: str
    source: VideoInfo

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def info(self) -> dict:
        return {"path": str(self.path), "frames": self.frames, "swapped_frames": self.swapped_frames,
                "seconds": round(self.seconds, 3), "frames_per_second": round(self.frames_per_second, 2),
                "method": self.method, "fps": str(self.source.fps), "audio": self.source.has_audio}


class TargetSelector:
    """Decides, frame by frame, which tracked faces are swapped.

    * ``"all"``: every face.
    * a reference embedding: every person (track) within ``max_distance`` of it.
    * an index: the person with that index on the first frame that has faces. When their track
      is lost for good (gone longer than the tracker waits), the nearest face within
      ``max_distance`` of their last known identity takes over.
    """

    def __init__(self, target: Union[Literal["all"], int], reference: Optional[np.ndarray] = None,
                 max_distance: Optional[float] = None) -> None:
        self.target, self.reference, self.max_distance = target, reference, max_distance
        self.track_id: Optional[int] = None
        self.first_frame: Optional[int] = None
        self._identity: Optional[np.ndarray] = None

    def select(self, frame_index: int, faces: Sequence[DetectedFace], ids: Sequence[int],
               tracker: FaceTracker) -> list[DetectedFace]:
        if self.target == "all":
            return list(faces)
        if self.reference is not None:
            return [f for f, i in zip(faces, ids) if self._is_reference(tracker, i, f)]
        if self.track_id is None:
            if not faces:
                return []
            if self.target >= len(faces):
                raise IndexError(f"target face {self.target} is out of range: the first frame with faces "
                                 f"(frame {frame_index}) has {len(faces)} (indices 0-{len(faces) - 1})")
            self.track_id, self.first_frame = ids[self.target], frame_index
            self._identity = faces[self.target].embedding
        if self.track_id not in ids and tracker.track(self.track_id) is None:
            self._reacquire(faces, ids)
        track = tracker.track(self.track_id)
        if track is not None and track.embedding is not None:
            self._identity = track.embedding
        return [f for f, i in zip(faces, ids) if i == self.track_id]

    def _is_reference(self, tracker: FaceTracker, track_id: int, face: DetectedFace) -> bool:
        track = tracker.track(track_id)
        embedding = track.embedding if track is not None and track.embedding is not None else face.embedding
        limit = reference_threshold(face.embedding_model, self.max_distance)
        return embedding is not None and distance(embedding, self.reference) <= limit

    def _reacquire(self, faces: Sequence[DetectedFace], ids: Sequence[int]) -> None:
        if self._identity is None:
            return
        near = [(distance(f.embedding, self._identity), i, f) for f, i in zip(faces, ids) if f.embedding is not None]
        near = [(d, i) for d, i, f in near if d <= reference_threshold(f.embedding_model, self.max_distance)]
        if near:
            self.track_id = min(near)[1]


class _Meter:
    """Frames/s and ETA for the progress text (the job's own ETA counts from its start)."""

    def __init__(self, total: int) -> None:
        self.total, self.started = total, time.monotonic()

    def text(self, done: int) -> str:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        total = max(self.total, done)
        eta = f", ETA {_duration((total - done) / rate)}" if rate > 0 and total > done else ""
        return f"Face swap (video): frame {done}/{total}, {rate:.1f} frames/s{eta}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def check_video(path: Path) -> VideoInfo:
    """Probe an uploaded video; a clear :class:`VideoError` when it cannot be swapped."""
    info = probe(path)
    if info.frame_count == 0 and info.duration == 0:
        raise VideoError(path, "the video has no frames")
    return info


def run_video_swap(swapper: FrameSwapper, request: VideoSwapRequest, writer: OutputWriter, control: JobControl, *,
                   reference: Optional[np.ndarray] = None, mark: Optional[FrameMarker] = None) -> VideoSwapResult:
    """The job body: swap every frame of ``request.video`` and save the result."""
    info = check_video(request.video)
    tracker, meter = FaceTracker(), _Meter(info.frame_count)
    selector = TargetSelector(request.target, reference, request.reference_max_distance)
    counts = {"frames": 0, "swapped": 0}
    control.start(max(info.frame_count, 1), textinfo=meter.text(0))

    def encode(handle) -> None:
        with VideoWriter(handle, info, audio_from=request.video) as out:
            for frame in read_frames(request.video):
                if control.interrupted.is_set():
                    raise JobInterrupted(f"video swap cancelled at frame {frame.index}")
                faces = swapper.detect(frame.image)
                targets = selector.select(frame.index, faces, tracker.update(faces), tracker)
                image = swapper.swap(frame.image, targets) if targets else frame.image
                out.write(mark(image) if mark is not None else image, frame.pts)
                counts["frames"] += 1
                counts["swapped"] += bool(targets)
                control.progress.total_steps = max(control.progress.total_steps, counts["frames"])
                control.progress.textinfo = meter.text(counts["frames"])
                control.step(counts["frames"])
        if counts["swapped"] == 0:
            raise ValueError(f"{request.video.name}: none of its {counts['frames']} frames has a face to swap "
                             f"(target: {'reference face' if reference is not None else request.target})")

    label = request.name or request.video.stem
    path = writer.save_stream(OUTPUT_FOLDER, label, ".mp4", encode)
    return VideoSwapResult(path, counts["frames"], counts["swapped"], time.monotonic() - meter.started,
                           swapper.method, info)


class _EngineSwapper:
    """The Faces engine seen as a :class:`FrameSwapper`: the source face is prepared once, and
    each frame is swapped on the faces the tracker chose (no second detection)."""

    def __init__(self, engine: "FaceEngine", source: Optional[Image.Image], request: VideoSwapRequest,
                 embed: bool) -> None:
        self._engine, self._embed = engine, embed
        self._prepared = engine.prepare_source(source, request.source_face_index, method=request.method)
        self._options = SwapOptions(target_faces="all", order=request.face_order)
        self.method = self._prepared.method

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        return self._engine.detect(image, order=self._options.order, embed=self._embed)

    def swap(self, image: np.ndarray, targets: Sequence[DetectedFace]) -> np.ndarray:
        result = self._engine.swap_prepared(image, self._prepared, self._options, faces=list(targets))
        return np.asarray(result.image)


def engine_swapper(ctx: "AtelierContext", source: Optional[Image.Image], request: VideoSwapRequest,
                   with_reference: bool = False) -> FrameSwapper:
    """The per-frame swapper for ``request``; raises the engine's message when the source has no face.

    Frames are embedded only when identity is used: for a reference face, or to find the target
    person again after the tracker lost them (not needed for "all").
    """
    return _EngineSwapper(ctx.faces, source, request, embed=with_reference or request.target != "all")


def provenance_marker(writer: OutputWriter, sources: Sequence[Source]) -> Optional[FrameMarker]:
    """Marks every frame with the invisible provenance marks of one record for the clip (what
    the Detect tab reads in any frame); None when the user turned marks off."""
    if not writer.provenance_marks:
        return None
    record = ProvenanceRecord.new(JOB_KIND, sources)
    return lambda rgb: np.asarray(mark_image(Image.fromarray(rgb), record, sdxl=writer.sdxl_mark_video))


def start_video_swap(ctx: "AtelierContext", request: VideoSwapRequest, source: Optional[Image.Image], *,
                     reference: Optional[Image.Image] = None, owner: Optional[str] = None,
                     discard_video: bool = False) -> Job:
    """Check what a person can fix right away, then queue the swap.

    The video must decode and the source (and reference) image must show a face: these fail
    here, with a message, instead of minutes later in the queue. ``discard_video`` deletes the
    video when the job ends (an upload kept only for this job).
    """
    check_video(request.video)
    swapper = engine_swapper(ctx, source, request, with_reference=reference is not None)
    identity = ctx.faces.reference_embedding(reference) if reference is not None else None
    mark = provenance_marker(ctx.writer, [image for image in (source, reference) if image is not None])

    def job(control: JobControl) -> VideoSwapResult:
        try:
            return run_video_swap(swapper, request, ctx.writer, control, reference=identity, mark=mark)
        finally:
            if discard_video:
                request.video.unlink(missing_ok=True)

    return ctx.queue.submit(JOB_KIND, job, owner=owner)
