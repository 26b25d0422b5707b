"""Score a video: sample frames, score every face, follow faces across frames, aggregate per face.

Deepfakes are usually made per face, so the answer is per track: the mean and the DFDC winner's
"confident strategy" over that face's frames. The timeline PNG and the flagged segments use the
highest face score of each sampled frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from pipelines.detect.aggregate import Segment, confident_strategy, segments_above
from pipelines.detect.detector import Detector, verdict_text
from pipelines.detect.image import face_crop_boxes, score_regions
from pipelines.detect.timeline import timeline_png
from pipelines.faces.types import DetectedFace
from pipelines.fileio import atomic_open
from pipelines.jobs import JobControl

if TYPE_CHECKING:
    from pipelines.context import AtelierContext

FaceFinder = Callable[[np.ndarray], Sequence[DetectedFace]]


@dataclass(frozen=True)
class Sampling:
    """Which frames to score: every k-th, or about N per second (default 2 per second)."""

    every: Optional[int] = None
    per_second: Optional[float] = None
    max_frames: int = 300

    def step(self, fps: float) -> int:
        if self.every is not None:
            if self.every < 1:
                raise ValueError("every must be ≥ 1 (score every k-th frame)")
            return self.every
        per_second = 2.0 if self.per_second is None else self.per_second
        if per_second <= 0:
            raise ValueError("per_second must be > 0")
        return max(1, round(fps / per_second))


@dataclass
class TrackScore:
    """One face followed through the video."""

    track_id: int
    times: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else 0.0

    @property
    def confident(self) -> float:
        return confident_strategy(self.scores)

    def to_json(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "frames": len(self.scores), "mean": round(self.mean, 6),
                "confident": round(self.confident, 6), "max": round(max(self.scores, default=0.0), 6),
                "first": round(self.times[0], 3) if self.times else None,
                "last": round(self.times[-1], 3) if self.times else None}


@dataclass
class VideoReport:
    detector: str
    threshold: float
    duration: float
    frames_sampled: int
    sample_interval: float
    tracks: list[TrackScore]
    frame_times: list[float]
    frame_max: list[float]
    segments: list[Segment]
    timeline: Optional[Path] = None
    interrupted: bool = False

    @property
    def score(self) -> float:
        """The video's score: its most suspicious face, by the confident strategy."""
        return max((t.confident for t in self.tracks), default=0.0)

    @property
    def verdict(self) -> str:
        basis = f"{len(self.tracks)} face track(s) in {self.frames_sampled} sampled frames, highest confident score"
        return verdict_text(self.score, self.threshold, basis, self.detector)

    def to_json(self) -> dict[str, Any]:
        return {"detector": self.detector, "threshold": self.threshold, "score": round(self.score, 6),
                "fake": self.score >= self.threshold, "verdict": self.verdict, "duration": round(self.duration, 3),
                "frames_sampled": self.frames_sampled, "interrupted": self.interrupted,
                "tracks": [t.to_json() for t in self.tracks], "segments": [s.to_json() for s in self.segments],
                "timeline": str(self.timeline) if self.timeline else None}


def score_video(path: Path, detector: Detector, find_faces: FaceFinder, sampling: Sampling = Sampling(),
                control: Optional[JobControl] = None, threshold: Optional[float] = None) -> VideoReport:
    """Decode ``path``, score the faces of the sampled frames and aggregate them per track."""
    from pipelines.faces.tracking import FaceTracker
    from pipelines.media.video import probe, read_frames

    info = probe(path)
    fps = float(info.fps) or 25.0
    step = sampling.step(fps)
    expected = min(sampling.max_frames, max(1, -(-max(info.frame_count, 1) // step)))
    control = control or JobControl()
    control.start(expected, textinfo=f"scoring {path.name}")
    tracker, tracks = FaceTracker(), {}
    frame_times: list[float] = []
    frame_max: list[float] = []
    sampled, interrupted, last_time = 0, False, 0.0
    for frame in read_frames(path):
        last_time = frame.time
        if frame.index % step:
            continue
        if sampled >= sampling.max_frames or control.should_stop():
            interrupted = control.should_stop()
            break
        faces = list(find_faces(frame.image))
        if faces:
            boxes = [f.box for f in faces]
            scored = score_regions(detector, frame.image, boxes, face_crop_boxes(detector, frame.image, boxes),
                                   heatmaps=False)
            for track_id, face in zip(tracker.update(faces), scored):
                track = tracks.setdefault(track_id, TrackScore(track_id))
                track.times.append(frame.time)
                track.scores.append(face.fake_score)
            frame_times.append(frame.time)
            frame_max.append(max(f.fake_score for f in scored))
        else:
            tracker.update([])
        sampled += 1
        control.step(min(sampled, expected))
    if not tracks:
        raise ValueError(f"{path.name}: no face found in {sampled} sampled frame(s); "
                         "learned detectors score faces (try sampling more frames)")
    limit = detector.spec.threshold if threshold is None else threshold
    interval = step / fps
    return VideoReport(detector.name, limit, max(info.duration, last_time + 1 / fps), sampled, interval,
                       sorted(tracks.values(), key=lambda t: t.track_id), frame_times, frame_max,
                       segments_above(frame_times, frame_max, limit, interval), interrupted=interrupted)


def save_timeline(report: VideoReport, folder: Path, label: str) -> Path:
    """Write the report's timeline PNG into ``folder`` and remember where."""
    png = timeline_png({t.track_id: (t.times, t.scores) for t in report.tracks}, report.threshold,
                       report.segments, f"{label} — {report.detector}", report.duration)
    path = folder / f"{time.strftime('%H%M%S')}-{label}-timeline.png"
    with atomic_open(path, "wb") as handle:
        handle.write(png)
    report.timeline = path
    return path


def analyse_video(ctx: "AtelierContext", path: Path, detector_name: str, sampling: Sampling = Sampling(),
                  control: Optional[JobControl] = None, threshold: Optional[float] = None) -> VideoReport:
    """The Detect tab's and the API's path: faces from ``ctx.faces``, timeline under outputs/."""
    detector = ctx.detectors.load(detector_name)
    report = score_video(Path(path), detector, lambda image: ctx.faces.detect(image, embed=False),
                         sampling, control, threshold)
    save_timeline(report, ctx.outputs_dir / "detect-videos" / date.today().isoformat(), Path(path).stem[:40])
    return report
