"""The Faces tab's video section, through its action functions (what the buttons call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pipelines.faces import video_swap
from tests.video_factory import BLUE, H, RED, W, SquareSwapper, crossing, draw, green_at, probe_streams, write_video
from webui.ui.faces import video_actions as actions
from webui.errors import UserError

pytestmark = pytest.mark.e2e  # video encoding and decoding


@pytest.fixture
def ctx(make_context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(video_swap, "engine_swapper", lambda ctx, source, request, **_: SquareSwapper())
    return make_context(tmp_path / "no-models")


@pytest.fixture
def clip(tmp_path: Path) -> str:
    return str(write_video(tmp_path / "dance.mp4", frames=12, fps=12, size=(W, H), make_frame=draw))


SOURCE = Image.new("RGB", (32, 32), (200, 150, 120))


def test_start_poll_and_show_the_result(ctx: Any, clip: str) -> None:
    job = actions.start(ctx, clip, SOURCE, target=" 1 ", owner="tab-1")
    assert job.owner == "tab-1"
    path, summary = actions.result(job)
    assert Path(path).name == "00000-dance.mp4" and Path(path).parent.parent.name == "faces" and Path(path).is_file()
    assert summary.startswith("12 frames (12 with a swapped face)") and "audio kept" in summary
    assert "frame 12/12" in actions.status(ctx, job)
    assert probe_streams(Path(path))["frames"] == 12
    from pipelines.media.video import read_frames

    first = next(iter(read_frames(Path(path))))
    assert green_at(first.image, crossing(0)[BLUE]) and not green_at(first.image, crossing(0)[RED])


def test_bad_input_gives_a_notice(ctx: Any, clip: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Upload a video"):
        actions.start(ctx, None, SOURCE)
    with pytest.raises(UserError, match="Add a source image"):
        actions.start(ctx, clip, None)
    with pytest.raises(UserError, match="Target face: write a face number"):
        actions.start(ctx, clip, SOURCE, target="left one")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(UserError, match="notes.mp4: not a readable video"):
        actions.start(ctx, str(text), SOURCE)
    with pytest.raises(UserError, match="target face 5 is out of range"):
        actions.result(actions.start(ctx, clip, SOURCE, target="5"))


def test_cancel_reaches_only_the_sessions_own_job(ctx: Any, clip: str) -> None:
    import threading

    blocker = threading.Event()
    ctx.queue.submit("txt2img", lambda control: blocker.wait(20), owner="other")  # keeps ours queued
    job = actions.start(ctx, clip, SOURCE, owner="tab-1")
    assert actions.status(ctx, job) == "In queue: 1 job(s) ahead"
    assert actions.cancel(ctx, job.id, "tab-2") == "No video swap of yours is running."
    assert actions.cancel(ctx, job.id, "tab-1") == "Cancelling…"
    blocker.set()
    with pytest.raises(UserError, match="cancelled"):
        actions.result(job)
    assert actions.cancel(ctx, "", "tab-1") == "No video swap of yours is running."
