"""The Faces tab's "Train a face model" section through its action functions (what the buttons call):
inputs → faceset gallery, delete, sort, pack → training job with preview and loss → merge preview → video."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from PIL import Image

from tests.dfl_clips import TINY_MODEL, write_clip
from tests.video_factory import probe_streams
from webui.ui.faces import train_actions as actions
from webui.errors import UserError

# video clips through the whole DeepFaceLab workflow; the later tests use the model it trains
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pipelines.context import AppConfig, AtelierContext

    root = tmp_path_factory.mktemp("dflui")
    context = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    context.clips = root  # type: ignore[attr-defined]
    yield context
    context.close()


def test_the_whole_workflow_from_the_section(ctx: Any) -> None:
    src = write_clip(ctx.clips / "src.mp4", "astronaut", frames=9)
    inbox = ctx.config.data_dir / "inbox"
    inbox.mkdir(parents=True)
    dst = write_clip(inbox / "dst.mp4", "hopper", frames=9, size=256)

    assert "src: 9 frames at 12 fps" in actions.report(actions.start_frames(ctx, "w", "src", [str(src)], "", None,
                                                                            owner="tab"))
    assert "dst: 9 frames" in actions.report(actions.start_frames(ctx, "w", "dst", None, str(dst), 0))
    assert actions.workspace_choices(ctx) == ["w"]
    for side in ("src", "dst"):
        job = actions.start_extract(ctx, "w", side, "full", 64, False, owner="tab")
        assert f"{side}: 9 faces from 9 frames" in actions.report(job)
    items = actions.gallery(ctx, "w", "src")
    assert len(items) == 9 and isinstance(items[0][0], Image.Image) and items[0][1] == "00000_0.png"
    assert actions.delete(ctx, "w", "src", ["00008_0.png"]) == "Deleted 1 face from src."
    assert "8 faces sorted by blur" in actions.sort_faces(ctx, "w", "src", "blur", 0)
    assert "Packed src" in actions.pack_faces(ctx, "w", "src")
    assert "- src: 9 frames, 8 aligned faces, packed" in actions.summary(ctx, "w")

    job = actions.start_training(ctx, "w", "mine", changes=TINY_MODEL, iterations=3, preview_every=1, owner="tab")
    assert actions.training_result(job).startswith("Finished at iteration 3")
    text, grid, loss = actions.training_view(ctx, job, "mine")
    assert isinstance(grid, Image.Image) and grid.width == 5 * 64 and isinstance(loss, Image.Image)
    assert actions.model_choices(ctx) == ["mine"]
    assert "trained model: mine" in ctx.faces.swap_methods()

    options = actions.merge_options("combined", 20, 80, 5, "mkl", 0.2, 0.0)
    with pytest.raises(UserError, match="responsible-use notice"):
        actions.preview(ctx, "w", "mine", 4, options)
    from webui.ui.faces.actions import acknowledge_notice

    acknowledge_notice(ctx)
    frame = actions.preview(ctx, "w", "mine", 4, options)
    assert frame.size == (256, 256)
    assert actions.frame_count(ctx, "w") == 9
    path, summary = actions.merge_result(actions.start_merge(ctx, "w", "mine", options, "both", owner="tab"))
    assert path is not None and Path(path).parent.parent.name == "dfl-merged" and "9 frames, 9 faces merged" in summary
    streams = probe_streams(Path(path))
    assert streams["frames"] == 9 and streams["audio_codec"] == "aac"
    assert "merged: 9 frames, video ready" in actions.summary(ctx, "w")


def test_stop_reaches_only_ones_own_training(ctx: Any) -> None:
    import threading

    gate = threading.Event()
    job = ctx.queue.submit("train-face", lambda control: gate.wait(10), owner="tab-a")
    assert actions.stop(ctx, job.id, "tab-b") == "No job of yours is running."
    assert actions.stop(ctx, job.id, "tab-a").startswith("Stopping")
    gate.set()


def test_mistakes_are_notices(ctx: Any, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Name a workspace"):
        actions.workspace(ctx, "")
    with pytest.raises(UserError, match="not a path"):
        actions.workspace(ctx, "../../etc")
    with pytest.raises(UserError, match="server paths must be inside"):
        actions.start_frames(ctx, "x", "src", None, "/etc", None)
    with pytest.raises(UserError, match="Upload a video or pictures"):
        actions.start_frames(ctx, "x", "src", None, "", None)
    with pytest.raises(UserError, match="Tick the confirmation"):
        actions.clear(ctx, "x", False)
    assert actions.clear(ctx, "x", True) == "Cleared workspace x."
    with pytest.raises(UserError, match="no src frames yet"):
        actions.start_extract(ctx, "x", "src", "full", 64, False)
    with pytest.raises(UserError, match="the src faceset is empty"):
        actions.start_training(ctx, "x", "m", changes=TINY_MODEL)
    with pytest.raises(UserError, match="Pick a trained model"):
        actions.preview(ctx, "x", "", 0, actions.merge_options("dst hull", 0, 50, 0, "rct", 0, 0))
    with pytest.raises(UserError, match="No trained face model 'ghost'"):
        actions.start_merge(ctx, "x", "ghost", actions.merge_options("dst hull", 0, 50, 0, "rct", 0, 0))
    with pytest.raises(UserError, match="erode"):
        actions.merge_options("dst hull", 999, 50, 0, "rct", 0, 0)
    with pytest.raises(UserError, match="Select a face"):
        actions.delete(ctx, "x", "src", [])


def test_the_faces_tab_has_the_section(ctx: Any) -> None:
    import gradio as gr

    from webui.ui.app import build_ui

    demo = build_ui(ctx)
    ids = {b.elem_id for b in demo.blocks.values() if isinstance(b, gr.components.Component) and b.elem_id}
    assert {"dfl_workspace", "dfl_src_files", "dfl_dst_path", "dfl_extract", "dfl_gallery", "dfl_sort", "dfl_pack",
            "dfl_train", "dfl_stop", "dfl_preview", "dfl_loss", "dfl_merge", "dfl_merged_frame", "dfl_video",
            "faces_method"} <= ids
    method = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "faces_method")
    assert ("trained model: mine", "trained model: mine") in method.choices
