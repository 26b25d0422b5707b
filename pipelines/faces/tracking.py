"""Follow faces from frame to frame, so a video swap keeps changing the same person.

Detectors number faces per frame (left to right, by size…); when two people cross, or one is
missed for a frame, that number jumps to the other person. The tracker gives each person a
track id that survives this: detections are matched to tracks by overlap with the track's
predicted box (constant velocity, so crossing faces keep their direction), centre distance and,
when the detector gives identity embeddings, cosine similarity. A track missed for a few frames
keeps moving along its velocity and is matched again when the face reappears.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from pipelines.faces.types import Box, DetectedFace


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _center(box: Box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass
class Track:
    """One person followed through the video."""

    id: int
    face: DetectedFace
    """The latest detection of this person."""
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    """Centre motion in pixels per frame (smoothed)."""
    embedding: Optional[np.ndarray] = None
    """Running mean of the detections' identity embeddings, L2-normalised."""
    misses: int = 0
    """Frames since this track was last matched."""
    hits: int = 1

    def predicted_box(self) -> Box:
        """Where the face should be in the next frame, moving at its velocity."""
        dx, dy = self.velocity * (self.misses + 1)
        x1, y1, x2, y2 = self.face.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    @property
    def size(self) -> float:
        return float(max(1.0, np.hypot(self.face.width, self.face.height)))


@dataclass
class TrackerConfig:
    """How strict matching is. Distances are in face sizes (box diagonals)."""

    max_misses: int = 8
    """A track unmatched for longer than this is dropped (its person left the picture)."""
    max_distance: float = 1.0
    """Farthest a face may be from its predicted place, in face sizes (grows while missed)."""
    min_similarity: float = 0.2
    """With embeddings on both sides: below this cosine similarity it is not the same person."""
    weight_iou: float = 1.0
    weight_distance: float = 1.0
    weight_embedding: float = 2.0
    smoothing: float = 0.5
    """Share of the newest motion in the velocity estimate."""


class FaceTracker:
    """Assigns a stable track id to every face of every frame, fed one frame at a time."""

    def __init__(self, config: Optional[TrackerConfig] = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._ids = itertools.count()

    def update(self, faces: Sequence[DetectedFace]) -> list[int]:
        """Match this frame's faces to tracks; returns the track id of each face, in order."""
        ids: list[Optional[int]] = [None] * len(faces)
        if self.tracks and faces:
            score = self._scores(faces)
            rows, cols = linear_sum_assignment(-np.where(np.isfinite(score), score, -1e9))
            for t, f in zip(rows, cols):
                if np.isfinite(score[t, f]):
                    self._follow(self.tracks[t], faces[f])
                    ids[f] = self.tracks[t].id
        matched = set(ids)
        for track in self.tracks:
            if track.id not in matched:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.config.max_misses]
        for f, face in enumerate(faces):
            if ids[f] is None:
                track = Track(next(self._ids), face, embedding=_embedding(face))
                self.tracks.append(track)
                ids[f] = track.id
        return [int(i) for i in ids if i is not None]

    def track(self, track_id: int) -> Optional[Track]:
        """The live track with this id (None once it was dropped)."""
        return next((t for t in self.tracks if t.id == track_id), None)

    def _scores(self, faces: Sequence[DetectedFace]) -> np.ndarray:
        """Track × face match score; -inf where the pair cannot be the same person."""
        cfg = self.config
        score = np.full((len(self.tracks), len(faces)), -np.inf)
        for t, track in enumerate(self.tracks):
            predicted = track.predicted_box()
            centre = _center(predicted)
            reach = cfg.max_distance * (1 + 0.5 * track.misses)
            for f, face in enumerate(faces):
                overlap = iou(predicted, face.box)
                distance = float(np.linalg.norm(_center(face.box) - centre)) / track.size
                if overlap == 0 and distance > reach:
                    continue
                value = cfg.weight_iou * overlap + cfg.weight_distance * (1 - min(distance / reach, 1.0))
                embedding = _embedding(face)
                if track.embedding is not None and embedding is not None and embedding.shape == track.embedding.shape:
                    similarity = float(track.embedding @ embedding)
                    if similarity < cfg.min_similarity:
                        continue
                    value += cfg.weight_embedding * similarity
                score[t, f] = value
        return score

    def _follow(self, track: Track, face: DetectedFace) -> None:
        """Move ``track`` to ``face``: update velocity (per frame, over any missed ones) and identity."""
        motion = (_center(face.box) - _center(track.face.box)) / (track.misses + 1)
        a = self.config.smoothing
        track.velocity = motion if track.hits == 1 else a * motion + (1 - a) * track.velocity
        embedding = _embedding(face)
        if embedding is not None:
            if track.embedding is None or track.embedding.shape != embedding.shape:
                track.embedding = embedding
            else:
                track.embedding = _unit(track.embedding * track.hits + embedding)
        track.face, track.misses = face, 0
        track.hits += 1


def _embedding(face: DetectedFace) -> Optional[np.ndarray]:
    return _unit(np.asarray(face.embedding, np.float64)) if face.embedding is not None else None
