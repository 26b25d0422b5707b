"""The video swap job with a stand-in face engine: tracking picks the right person, progress,
cancel, output file with the source timing and audio, provenance hook on every frame.

The stand-in "detects" coloured squares (their colour is their identity) and "swaps" by painting
the box green, so each check reads the decoded output at known places. The real engine runs in
tests/pipelines/test_video_swap_e2e.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pipelines.faces.tracking import FaceTracker
from pipelines.faces.types import DetectedFace
from pipelines.faces.video_swap import TargetSelector, VideoSwapRequest, run_video_swap
from pipelines.jobs import JobInterrupted, JobQueue, JobState
from pipelines.media.video import read_frames
from pipelines.outputs import OutputWriter
from tests.video_factory import BLUE, H, RED, W, SquareSwapper, crossing, draw, green_at, probe_streams, write_video

pytestmark = pytest.mark.e2e  # video encoding and decoding


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "walk.mp4", frames=12, fps=12, size=(W, H), make_frame=draw)


@pytest.fixture
def queue() -> JobQueue:
    jobs = JobQueue()
    yield jobs
    jobs.shutdown()


def run(queue: JobQueue, writer: OutputWriter, request: VideoSwapRequest, **kwargs):
    swapper = kwargs.pop("swapper", SquareSwapper())
    return queue.submit("faces-video", lambda control: run_video_swap(swapper, request, writer, control, **kwargs),
                        owner="me")


def test_target_index_follows_the_same_person_after_they_cross(tmp_path: Path, clip: Path, queue: JobQueue) -> None:
    writer = OutputWriter(tmp_path / "outputs")
    marked = []
    job = run(queue, writer, VideoSwapRequest(video=clip, target=0, name="crossing walk"),
              mark=lambda image: marked.append(1) or image)
    result = job.wait(60)
    assert result.path == writer.labeled_folder("faces") / "00000-crossing walk.mp4"
    assert (result.frames, result.swapped_frames, result.method) == (12, 12, "stand-in")
    assert len(marked) == 12
    out = probe_streams(result.path)
    assert (out["frames"], out["fps"], out["audio_codec"]) == (12, 12, "aac")
    assert out["audio_seconds"] == pytest.approx(1.0, abs=0.03)
    for frame in read_frames(result.path):
        places = crossing(frame.index)
        # face 0 on frame 0 is the red square (left); it stays the one swapped after the crossing
        assert green_at(frame.image, places[RED]) and not green_at(frame.image, places[BLUE]), frame.index
    text = job.control.progress.textinfo
    assert "frame 12/12" in text and "frames/s" in text
    assert job.control.progress.fraction == 1.0


def test_all_faces_and_reference_modes(tmp_path: Path, clip: Path, queue: JobQueue) -> None:
    writer = OutputWriter(tmp_path / "outputs")
    every = run(queue, writer, VideoSwapRequest(video=clip, target="all")).wait(60)
    blue_only = run(queue, writer, VideoSwapRequest(video=clip, reference_max_distance=0.3),
                    reference=np.array([0.1, 1.0])).wait(60)
    assert [every.path.name, blue_only.path.name] == ["00000-walk.mp4", "00001-walk.mp4"]
    for a, b in zip(read_frames(every.path), read_frames(blue_only.path)):
        places = crossing(a.index)
        assert green_at(a.image, places[RED]) and green_at(a.image, places[BLUE])
        assert green_at(b.image, places[BLUE]) and not green_at(b.image, places[RED])


def test_cancel_stops_the_job_and_leaves_no_file(tmp_path: Path, clip: Path, queue: JobQueue) -> None:
    writer = OutputWriter(tmp_path / "outputs")
    reached = threading.Event()

    class Slow(SquareSwapper):
        def detect(self, image: np.ndarray) -> list[DetectedFace]:
            if self.detect_calls == 3:
                reached.set()
                assert release.wait(10)
            return super().detect(image)

    release = threading.Event()
    swapper = Slow()
    job = run(queue, writer, VideoSwapRequest(video=clip), swapper=swapper)
    assert reached.wait(30)
    assert not queue.interrupt(job.id, owner="someone else")
    assert queue.interrupt(job.id, owner="me")
    release.set()
    with pytest.raises(JobInterrupted, match="cancelled at frame 4"):
        job.wait(30)
    assert job.state is JobState.CANCELLED and swapper.detect_calls == 4
    assert list(writer.labeled_folder("faces").iterdir()) == []


def test_bad_target_and_faceless_video_fail_with_messages(tmp_path: Path, clip: Path, queue: JobQueue) -> None:
    writer = OutputWriter(tmp_path / "outputs")
    with pytest.raises(IndexError, match=r"target face 2 is out of range: the first frame with faces \(frame 0\) has 2"):
        run(queue, writer, VideoSwapRequest(video=clip, target=2)).wait(60)
    empty = write_video(tmp_path / "empty.mp4", frames=4, fps=4, size=(W, H), make_frame=lambda i: np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match="empty.mp4: none of its 4 frames has a face to swap"):
        run(queue, writer, VideoSwapRequest(video=empty)).wait(60)
    assert list(writer.labeled_folder("faces").iterdir()) == []


def face_at(x: float, embedding: list[float]) -> DetectedFace:
    return DetectedFace(box=(x, 0, x + 20, 20), score=1, kps5=np.zeros((5, 2), np.float32), embedding=np.array(embedding))


def test_selector_finds_the_target_again_by_identity_after_the_track_is_lost() -> None:
    from pipelines.faces.tracking import TrackerConfig

    tracker = FaceTracker(TrackerConfig(max_misses=1))
    selector = TargetSelector(1, max_distance=0.3)
    frames = [[face_at(0, [1, 0]), face_at(100, [0, 1])], [], [], [], [face_at(300, [0.1, 1]), face_at(10, [1, 0])]]
    picked = []
    for index, faces in enumerate(frames):
        chosen = selector.select(index, faces, tracker.update(faces), tracker)
        picked.append([f.box[0] for f in chosen])
    assert picked == [[100], [], [], [], [300]]
    assert selector.first_frame == 0


def test_provenance_marker_marks_frames_unless_marks_are_off(tmp_path: Path) -> None:
    from PIL import Image

    from pipelines.faces.video_swap import provenance_marker
    from pipelines.provenance.watermarks import read_atelier

    from skimage import data

    writer = OutputWriter(tmp_path / "outputs")
    frame = np.ascontiguousarray(data.astronaut()[64:448])
    mark = provenance_marker(writer, [Image.fromarray(frame)])
    assert not read_atelier(Image.fromarray(frame)).found
    assert read_atelier(Image.fromarray(mark(frame))).found
    writer.provenance_marks = False
    assert provenance_marker(writer, []) is None
