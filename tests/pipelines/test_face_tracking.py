"""Face tracking on synthetic box sequences: crossing, missed frames, identity by embedding."""

from __future__ import annotations

from typing import Optional

import numpy as np

from pipelines.faces.tracking import FaceTracker, TrackerConfig, iou
from pipelines.faces.types import DetectedFace


def face(x: float, y: float, size: float = 40, embedding: Optional[list[float]] = None) -> DetectedFace:
    """A detection centred at (x, y)."""
    half = size / 2
    return DetectedFace(box=(x - half, y - half, x + half, y + half), score=0.9, kps5=np.zeros((5, 2), np.float32),
                        embedding=None if embedding is None else np.asarray(embedding, np.float32))


def left_to_right(faces: list[DetectedFace]) -> list[DetectedFace]:
    """How a detector would number them: by x."""
    return sorted(faces, key=lambda f: f.box[0])


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_crossing_faces_keep_their_ids_though_the_detector_order_flips() -> None:
    tracker = FaceTracker()
    seen: dict[str, set[int]] = {"a": set(), "b": set()}
    for i in range(20):
        a = face(20 + 12 * i, 100)           # walks right
        b = face(248 - 12 * i, 110)          # walks left; they cross around frame 9
        ordered = left_to_right([a, b])
        ids = dict(zip((id(f) for f in ordered), tracker.update(ordered)))
        seen["a"].add(ids[id(a)])
        seen["b"].add(ids[id(b)])
    assert len(seen["a"]) == 1 and len(seen["b"]) == 1 and seen["a"] != seen["b"]


def test_a_face_missed_for_a_few_frames_keeps_its_id() -> None:
    tracker = FaceTracker(TrackerConfig(max_misses=4))
    ids = []
    for i in range(12):
        detections = [] if 4 <= i < 8 else [face(50 + 5 * i, 80)]  # lost for 4 frames, still moving
        ids += tracker.update(detections)
    assert ids == [0] * 8


def test_a_face_gone_longer_than_max_misses_comes_back_as_a_new_track() -> None:
    tracker = FaceTracker(TrackerConfig(max_misses=2))
    assert tracker.update([face(50, 50)]) == [0]
    for _ in range(3):
        assert tracker.update([]) == []
    assert tracker.track(0) is None
    assert tracker.update([face(50, 50)]) == [1]


def test_a_jump_across_the_picture_is_not_the_same_person() -> None:
    tracker = FaceTracker()
    first = tracker.update([face(40, 40)])
    second = tracker.update([face(400, 300)])
    assert first == [0] and second == [1]
    assert tracker.track(0).misses == 1


def test_embeddings_tell_apart_faces_that_meet_and_turn_back() -> None:
    """Velocity alone predicts they pass each other; identity says they turned back."""
    alice, bob = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]

    def run(with_embeddings: bool) -> tuple[set[int], set[int]]:
        tracker = FaceTracker()
        ids_a: set[int] = set()
        ids_b: set[int] = set()
        path = list(range(0, 6)) + list(range(6, 0, -1))  # approach, touch, retreat
        for step in path:
            a = face(100 + 9 * step, 100, embedding=alice if with_embeddings else None)
            b = face(220 - 9 * step, 100, embedding=bob if with_embeddings else None)
            ids = tracker.update([a, b])
            ids_a.add(ids[0])
            ids_b.add(ids[1])
        return ids_a, ids_b

    ids_a, ids_b = run(with_embeddings=True)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    without_a, without_b = run(with_embeddings=False)
    assert len(without_a) > 1 or len(without_b) > 1  # the case embeddings exist for


def test_a_different_identity_in_the_same_place_starts_a_new_track() -> None:
    tracker = FaceTracker()
    assert tracker.update([face(60, 60, embedding=[1, 0])]) == [0]
    assert tracker.update([face(61, 60, embedding=[0, 1])]) == [1]
    assert tracker.update([face(62, 60, embedding=[0.1, 1])]) == [1]


def test_new_faces_get_new_ids_and_ids_are_never_reused() -> None:
    tracker = FaceTracker(TrackerConfig(max_misses=0))
    assert tracker.update([face(50, 50), face(200, 50)]) == [0, 1]
    assert tracker.update([face(200, 50)]) == [1]
    assert tracker.update([face(52, 50), face(200, 50)]) == [2, 1]
