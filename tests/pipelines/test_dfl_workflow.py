"""DeepFaceLab's workflow end to end on tiny sizes: clips of two real people (photos from the wheels,
animated), frames, faceset extract and metadata, sort, pack, a few training iterations, resume,
merge to video with the destination's fps and audio, and the bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.dfl import aligned as aligned_mod
from pipelines.dfl.extract import extract_faceset
from pipelines.dfl.facetype import FACE_TYPES, crop_matrix
from pipelines.dfl.frames import extract_frames
from pipelines.dfl.merge import merge_all, merge_preview
from pipelines.dfl.model import ModelConfig
from pipelines.dfl.pack import load_packed, pack_faceset, read_folder
from pipelines.dfl.sort import sharpness, sort_faceset, yaw_pitch
from pipelines.dfl.store import load_model, read_config
from pipelines.dfl.swapper import MergeOptions, TrainedSwapper
from pipelines.dfl.train import MIN_FACES, Trainer, TrainOptions, prepare_config, run_training
from pipelines.dfl.workspace import Workspace, WorkspaceError
from pipelines.jobs import JobControl
from tests.dfl_clips import TINY_MODEL, prepared_workspace
from tests.faces_data import builtin_faces  # noqa: F401 (fixture)
from tests.video_factory import probe_streams, write_video

pytestmark = pytest.mark.e2e  # video encoding and decoding (clips into frames, merged back to video)


@pytest.fixture(scope="module")
def ws(builtin_faces: Any, tmp_path_factory: pytest.TempPathFactory) -> Workspace:  # noqa: F811
    return prepared_workspace(tmp_path_factory.mktemp("dfl"), builtin_faces)


@pytest.fixture(scope="module")
def trained(ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained 4 iterations (learned mask on)."""
    folder = tmp_path_factory.mktemp("models") / "dfl" / "tiny"
    config, resume = prepare_config(folder, **TINY_MODEL)
    run_training(Trainer(ws, folder, config, resume, torch.device("cpu"), TrainOptions(iterations=4, preview_every=2,
                                                                                         log_every=1)))
    return folder


def copy_workspace(ws: Workspace, root: Path) -> Workspace:
    shutil.copytree(ws.root, root / "dfl" / ws.name)
    return Workspace.named(root, ws.name)


def test_frames_keep_the_destination_timing_and_audio(ws: Workspace) -> None:
    meta = ws.read_frames_meta("dst")
    assert meta["kind"] == "video" and meta["fps"] == "12" and meta["has_audio"]
    assert len(meta["frames"]) == 10 and [f["pts"] for f in meta["frames"]] == sorted(f["pts"] for f in meta["frames"])
    assert (ws.root / meta["video"]).is_file()
    assert Image.open(ws.frames_dir("dst") / meta["frames"][0]["file"]).size == (256, 256)


def test_frames_at_a_chosen_fps(ws: Workspace, tmp_path: Path) -> None:
    other = Workspace.named(tmp_path, "fps").create()
    report = extract_frames(other, "src", ws.root / ws.read_frames_meta("src")["video"], fps=6)
    assert report.frames == 5 and report.fps == 6
    assert other.read_frames_meta("src")["resampled"]


def test_aligned_faces_carry_landmarks_source_frame_and_hull(ws: Workspace) -> None:
    files = aligned_mod.aligned_files(ws.aligned_dir("dst"))
    assert len(files) == 10
    rgb, meta = aligned_mod.read_aligned(files[0])
    assert rgb.shape == (64, 64, 3) and meta.face_type == "full" and meta.size == 64
    assert (ws.frames_dir("dst") / meta.source_file).is_file() and meta.source_size == (256, 256)
    assert len(meta.landmarks) == 68 and meta.detector == "dlib-hog"
    # The stored matrix takes the frame's landmarks onto the crop's.
    mapped = meta.source_landmarks_array() @ meta.matrix_array()[:, :2].T + meta.matrix_array()[:, 2]
    assert np.abs(mapped - meta.landmarks_array()).max() < 0.05
    mask = meta.mask()
    assert 0.25 < mask.mean() < 0.85 and mask[32, 32] == 1 and mask[0, 0] == 0
    # Metadata is JSON in a PNG chunk, not pickle.
    assert json.loads(Image.open(files[0]).info[aligned_mod.CHUNK])["schema"] == aligned_mod.SCHEMA


def test_face_types_grow_from_half_to_head(ws: Workspace) -> None:
    meta = aligned_mod.read_meta(aligned_mod.aligned_files(ws.aligned_dir("dst"))[0])
    landmarks = meta.source_landmarks_array()
    sides = [1.0 / np.linalg.norm(crop_matrix(landmarks, t, 100)[0, :2]) for t in FACE_TYPES]
    assert sides == sorted(sides) and sides[-1] > 2 * sides[0]


def test_a_picture_without_aligned_metadata_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    with pytest.raises(aligned_mod.AlignedError, match="not an aligned face"):
        aligned_mod.read_meta(tmp_path / "x.png")


def test_sort_methods_and_best_subset(ws: Workspace, tmp_path: Path) -> None:
    other = copy_workspace(ws, tmp_path)
    files = sort_faceset(other, "src", "blur")
    values = [sharpness(*(lambda r, m: (r, m.mask()))(*aligned_mod.read_aligned(f))) for f in files]
    assert values == sorted(values, reverse=True) and files[0].name.startswith("00000_")
    yaws = [yaw_pitch(aligned_mod.read_meta(f))[0] for f in sort_faceset(other, "src", "yaw")]
    assert yaws == sorted(yaws) and max(yaws) - min(yaws) > 0
    assert len(sort_faceset(other, "src", "hist")) == 10
    assert len(sort_faceset(other, "src", "pitch")) == 10
    kept = sort_faceset(other, "src", "best", keep=6)
    assert len(kept) == 6 and len(list(other.trash_dir("src").glob("*.png"))) == 4
    with pytest.raises(WorkspaceError, match="keep"):
        sort_faceset(other, "src", "best")


def test_pack_is_one_file_that_loads_the_same_faces(ws: Workspace, tmp_path: Path) -> None:
    other = copy_workspace(ws, tmp_path)
    path = pack_faceset(other, "dst")
    packed, folder = load_packed(path), read_folder(other.aligned_dir("dst"))
    assert packed.face_type == "full" and packed.size == 64 and packed.names == folder.names
    assert np.array_equal(packed.images, folder.images) and np.array_equal(packed.masks, folder.masks)
    assert packed.parts.max() == 255  # eyes and mouth from the 68 landmarks


def test_training_writes_model_preview_and_loss(trained: Path) -> None:
    config, state = read_config(trained)
    assert state.iteration == 4 and len(state.history) == 4 and config == ModelConfig.preset("quick96", **TINY_MODEL)
    assert {p.name for p in trained.iterdir()} >= {"config.json", "model.safetensors", "optimizer.safetensors",
                                                   "preview.png", "loss.png"}
    assert not list(trained.rglob("*.pt")) and not list(trained.rglob("*.pkl"))
    preview = Image.open(trained / "preview.png")
    assert preview.width == 5 * 64  # src, src->src, dst, dst->dst, dst->src
    model, _ = load_model(trained)
    assert model.decoder_src.mask is not None


def test_progress_carries_the_preview_grid_and_the_losses(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    config, _ = prepare_config(folder, **TINY_MODEL)
    control, seen = JobControl(), []
    control.listeners.append(lambda p: seen.append((p.step, p.textinfo, p.preview)))
    run_training(Trainer(ws, folder, config, False, torch.device("cpu"), TrainOptions(iterations=3, preview_every=1)),
                 control)
    assert any("loss src" in text and "it/s" in text for _, text, _ in seen)
    assert isinstance(seen[-1][2], Image.Image)


def test_resume_continues_from_the_saved_iteration(trained: Path, ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "resume"
    shutil.copytree(trained, folder)
    config, resume = prepare_config(folder, batch_size=3)
    assert resume and config.batch_size == 3 and config.resolution == 32
    before = load_model(folder)[0].state_dict()
    report = run_training(Trainer(ws, folder, config, resume, torch.device("cpu"), TrainOptions(iterations=6)))
    assert report.start_iteration == 4 and report.iteration == 6
    state = read_config(folder)[1]
    assert state.iteration == 6 and [h[0] for h in state.history][:4] == [1, 2, 3, 4]
    after = load_model(folder)[0].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(ValueError, match="cannot change when resuming"):
        prepare_config(folder, resolution=64)


def test_stop_and_crash_lose_at_most_the_iterations_since_the_last_save(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "stop"
    config, _ = prepare_config(folder, **TINY_MODEL)
    control = JobControl()
    control.listeners.append(lambda p: control.interrupted.set() if p.step >= 3 else None)
    report = run_training(Trainer(ws, folder, config, False, torch.device("cpu"), TrainOptions()), control)
    assert report.stopped and read_config(folder)[1].iteration == report.iteration == 3

    # A crash: saves every iteration (tiny interval), then the fourth iteration of this run fails.
    trainer = Trainer(ws, folder, prepare_config(folder)[0], True, torch.device("cpu"),
                      TrainOptions(save_minutes=1e-9, backups=2))
    real_step, calls = trainer.step, []

    def flaky() -> tuple[float, float]:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("simulated crash")
        return real_step()

    trainer.step = flaky  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run_training(trainer)
    assert read_config(folder)[1].iteration == 6  # 3 + the 3 that finished, each saved
    assert [p.name for p in sorted((folder / "backups").iterdir())] == ["00000005", "00000006"]
    load_model(folder)  # the last save loads


def test_merge_writes_the_video_with_destination_fps_audio_and_marks(ws: Workspace, trained: Path,
                                                                     tmp_path: Path) -> None:
    from pipelines.provenance.metadata import read_record
    from pipelines.provenance.watermarks import read_atelier

    other = copy_workspace(ws, tmp_path)
    swapper = TrainedSwapper(load_model(trained)[0])
    report = merge_all(other, swapper, MergeOptions(mask_mode="combined"), "both")
    assert report.frames == 10 and report.faces == 10
    streams = probe_streams(report.video)
    assert streams["frames"] == 10 and streams["fps"] == 12 and streams["audio_codec"] == "aac"
    assert (streams["width"], streams["height"]) == (256, 256)
    frame = Image.open(other.merged_dir / "00003.png")
    assert read_record(frame).operation == "dfl-merge" and read_atelier(frame).found
    original = np.asarray(Image.open(other.frames_dir("dst") / "00003.png")).astype(int)
    changed = np.abs(np.asarray(frame.convert("RGB")).astype(int) - original).sum(-1) > 30
    meta = aligned_mod.read_meta(next(other.aligned_dir("dst").glob("00003_*.png")))
    x0, y0 = meta.source_landmarks_array().min(0).astype(int)
    x1, y1 = meta.source_landmarks_array().max(0).astype(int)
    inside = changed[y0:y1, x0:x1].mean()
    assert inside > 0.2 and changed.mean() < inside / 2  # the face changed, not the whole frame


@pytest.mark.parametrize("colour", ["rct", "lct", "mkl", "idt", "sot", "none"])
def test_merge_preview_per_colour_transfer(ws: Workspace, trained: Path, colour: str) -> None:
    swapper = TrainedSwapper(load_model(trained)[0])
    plain = merge_preview(ws, swapper, 2, MergeOptions(colour=colour))
    other = merge_preview(ws, swapper, 2, MergeOptions(colour=colour, erode=100, blur=200, face_scale=10,
                                                       sharpen=0.5, mask_mode="learned"))
    assert plain.size == (256, 256) and not np.array_equal(np.asarray(plain), np.asarray(other))
    with pytest.raises(WorkspaceError, match="out of range"):
        merge_preview(ws, swapper, 10, MergeOptions())


def test_learned_mask_modes_need_a_model_with_a_learned_mask(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "nomask"
    config, _ = prepare_config(folder, **TINY_MODEL, learn_mask=False)
    run_training(Trainer(ws, folder, config, False, torch.device("cpu"), TrainOptions(iterations=1)))
    swapper = TrainedSwapper(load_model(folder)[0])
    with pytest.raises(ValueError, match="learned mask"):
        merge_preview(ws, swapper, 0, MergeOptions(mask_mode="learned"))
    assert merge_preview(ws, swapper, 0, MergeOptions(mask_mode="dst hull")).size == (256, 256)


# -- bad input -----------------------------------------------------------------------------------
def test_a_video_without_faces_says_so(builtin_faces: Any, tmp_path: Path) -> None:  # noqa: F811
    ws = Workspace.named(tmp_path, "empty").create()
    extract_frames(ws, "dst", write_video(tmp_path / "squares.mp4", frames=4, size=(64, 48)))
    with pytest.raises(WorkspaceError, match="no faces found in any of the 4 dst frames"):
        extract_faceset(ws, "dst", builtin_faces)


def test_a_faceset_too_small_to_train_says_how_many_are_needed(ws: Workspace, tmp_path: Path) -> None:
    other = copy_workspace(ws, tmp_path)
    for path in aligned_mod.aligned_files(other.aligned_dir("src"))[3:]:
        path.unlink()
    config, _ = prepare_config(tmp_path / "m", **TINY_MODEL)
    with pytest.raises(WorkspaceError, match=f"src faceset has 3 faces; training needs at least {MIN_FACES}"):
        Trainer(other, tmp_path / "m", config, False, torch.device("cpu"))


def test_a_model_of_another_face_type_is_refused(ws: Workspace, tmp_path: Path) -> None:
    config, _ = prepare_config(tmp_path / "m", **{**TINY_MODEL, "face_type": "head"})
    with pytest.raises(WorkspaceError, match="built for 'head' faces but the src faceset was extracted as 'full'"):
        Trainer(ws, tmp_path / "m", config, False, torch.device("cpu"))


def test_bad_names_paths_and_options(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a path"):
        Workspace.named(tmp_path, "../escape")
    ws = Workspace.named(tmp_path, "w").create()
    with pytest.raises(WorkspaceError, match="no such file"):
        extract_frames(ws, "src", tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(WorkspaceError, match="not a readable video"):
        extract_frames(ws, "src", tmp_path / "notes.mp4")
    with pytest.raises(WorkspaceError, match="confirm"):
        ws.clear(confirm=False)
    with pytest.raises(WorkspaceError, match="extract frames first"):
        ws.read_frames_meta("dst")
    with pytest.raises(ValueError, match="multiple of 16"):
        ModelConfig(resolution=100)
    with pytest.raises(ValueError, match="colour transfer"):
        MergeOptions(colour="xyz")
    with pytest.raises(ValueError, match="erode"):
        MergeOptions(erode=500)


def test_a_full_disk_while_saving_keeps_the_last_save_and_says_so(trained: Path, ws: Workspace, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from pipelines.dfl import store

    folder = tmp_path / "full"
    shutil.copytree(trained, folder)
    before = (folder / "model.safetensors").read_bytes()

    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "atomic_open", no_space)
    config, resume = prepare_config(folder)
    with pytest.raises(WorkspaceError, match="out of disk space while writing the model"):
        run_training(Trainer(ws, folder, config, resume, torch.device("cpu"), TrainOptions(iterations=5)))
    assert (folder / "model.safetensors").read_bytes() == before and read_config(folder)[1].iteration == 4


def test_pictures_in_and_a_picture_sequence_out(builtin_faces: Any, trained: Path, tmp_path: Path) -> None:  # noqa: F811
    from pipelines.provenance.metadata import read_record
    from tests.dfl_clips import clip_frame

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(clip_frame("hopper", i, 3, 256)).save(folder / f"shot-{i}.jpg")
    other = Workspace.named(tmp_path, "pics").create()
    assert extract_frames(other, "dst", folder).frames == 3
    assert other.read_frames_meta("dst")["frames"][0]["source"] == "shot-0.jpg"
    assert extract_faceset(other, "dst", builtin_faces, "full", 64).faces == 3
    swapper = TrainedSwapper(load_model(trained)[0])
    with pytest.raises(WorkspaceError, match="came from pictures, not a video"):
        merge_all(other, swapper, MergeOptions(), "video")
    report = merge_all(other, swapper, MergeOptions(), "images")
    assert report.video is None and sorted(p.name for p in other.merged_dir.glob("*.png")) == \
        ["00000.png", "00001.png", "00002.png"]
    assert read_record(Image.open(other.merged_dir / "00001.png")).operation == "dfl-merge"
