"""``python launch.py faceset|train-face|merge``: DeepFaceLab's steps from the command line.

The parsers are standard library only (``--help`` works before anything is installed); each
runner imports the engine lazily and calls the same functions as the Faces tab. Exit code 2 with
a one-line message for anything the user can fix.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FACE_TYPES = ("half", "mid-full", "full", "whole face", "head")
SORT_METHODS = ("blur", "yaw", "pitch", "hist", "best")
COLOUR_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
MASK_MODES = ("dst hull", "learned", "combined")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data",
                        help="workspaces live in <data-dir>/dfl/<workspace>/ (default ./data)")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models",
                        help="trained models go to <models-dir>/dfl/<model>/ (default ./models)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda …")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--skip-install", action="store_true")


def build_faceset_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py faceset",
        description="DeepFaceLab steps 1-5 on a workspace: clear, extract frames, extract faces, sort, pack.")
    parser.add_argument("workspace", help="workspace name (a folder under <data-dir>/dfl/)")
    actions = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _common(common)
    actions.add_parser("create", parents=[common], help="create the workspace folders")
    actions.add_parser("info", parents=[common], help="frames and faces per side, as JSON")
    clear = actions.add_parser("clear", parents=[common], help="delete everything in the workspace")
    clear.add_argument("--yes", action="store_true", help="confirm: frames, facesets and results are deleted")
    frames = actions.add_parser("frames", parents=[common], help="extract frames from a video or a picture folder")
    frames.add_argument("side", choices=("src", "dst"))
    frames.add_argument("input", type=Path, help="a video file or a folder of pictures")
    frames.add_argument("--fps", type=float, default=None, help="frames per second to keep (default: every frame)")
    extract = actions.add_parser("extract", parents=[common], help="detect, align and save the faces of every frame")
    extract.add_argument("side", choices=("src", "dst"))
    extract.add_argument("--face-type", default="full", choices=FACE_TYPES)
    extract.add_argument("--size", type=int, default=256, help="aligned face size in pixels (default 256)")
    extract.add_argument("--all-faces", action="store_true", help="every face of a frame (default: the largest)")
    extract.add_argument("--min-score", type=float, default=0.5)
    sort = actions.add_parser("sort", parents=[common], help="reorder (or prune) the aligned faces")
    sort.add_argument("side", choices=("src", "dst"))
    sort.add_argument("--by", required=True, choices=SORT_METHODS)
    sort.add_argument("--keep", type=int, default=None, help="with --by best: how many faces to keep")
    pack = actions.add_parser("pack", parents=[common], help="pack the aligned faces into one file for training")
    pack.add_argument("side", choices=("src", "dst"))
    delete = actions.add_parser("delete", parents=[common], help="delete aligned faces by file name")
    delete.add_argument("side", choices=("src", "dst"))
    delete.add_argument("names", nargs="+")
    return parser


def build_train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py train-face",
        description="Train (or resume) a face model on a workspace's src and dst facesets. Ctrl+C stops and saves. "
                    "Model options apply to a new model; on resume only the training recipe may change.")
    parser.add_argument("workspace")
    parser.add_argument("--model", required=True, help="model name: <models-dir>/dfl/<model>/")
    parser.add_argument("--preset", default="quick96", choices=("quick96", "sae-128", "sae-256"))
    parser.add_argument("--resolution", type=int, default=None, help="32-256, a multiple of 16")
    parser.add_argument("--face-type", default=None, choices=FACE_TYPES)
    for name in ("ae-dims", "e-dims", "d-dims", "d-mask-dims"):
        parser.add_argument(f"--{name}", type=int, default=None)
    parser.add_argument("--no-learn-mask", dest="learn_mask", action="store_const", const=False, default=None)
    parser.add_argument("--random-warp", dest="random_warp", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--colour-transfer", default=None, choices=COLOUR_MODES,
                        help="recolour src samples like dst faces while training")
    parser.add_argument("--eyes-mouth-priority", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--true-face-power", type=float, default=None, help="0 (off, default) to 1")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--iterations", type=int, default=0, help="stop at this total iteration (0: until Ctrl+C)")
    parser.add_argument("--save-minutes", type=float, default=5.0)
    parser.add_argument("--preview-every", type=int, default=50)
    parser.add_argument("--backups", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    _common(parser)
    return parser


def build_merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py merge",
        description="Merge the trained model into every dst frame; write result.mp4 (dst fps and audio) and/or "
                    "merged/*.png in the workspace.")
    parser.add_argument("workspace")
    parser.add_argument("--model", required=True)
    parser.add_argument("--mask-mode", default="dst hull", choices=MASK_MODES)
    parser.add_argument("--erode", type=int, default=0, help="-400..400 (thousandths of the face; < 0 grows)")
    parser.add_argument("--blur", type=int, default=50, help="0..400 (thousandths of the face)")
    parser.add_argument("--face-scale", type=int, default=0, help="-50..50 %%")
    parser.add_argument("--colour", default="rct", choices=COLOUR_MODES)
    parser.add_argument("--sharpen", type=float, default=0.0)
    parser.add_argument("--motion-blur", type=float, default=0.0)
    parser.add_argument("--output", default="video", choices=("video", "images", "both"))
    parser.add_argument("--preview-frame", type=int, default=None, help="only merge this frame into --preview-out")
    parser.add_argument("--preview-out", type=Path, default=None)
    parser.add_argument("--no-marks", action="store_true", help="leave out the invisible provenance marks")
    _common(parser)
    return parser


def _setup(args: argparse.Namespace) -> Any:
    """Threads, and the device the shared policy picks."""
    import torch

    from pipelines.device import DevicePolicy

    if args.threads:
        torch.set_num_threads(args.threads)
    return DevicePolicy.detect(args.device)


def face_engine(args: argparse.Namespace, policy: Any) -> Any:
    from pipelines.faces.engine import FaceEngine
    from pipelines.models.cache import ModelCache
    from pipelines.outputs import OutputWriter

    return FaceEngine(args.models_dir, ModelCache(policy.ram_budget_bytes), policy, OutputWriter(args.data_dir / "outputs"))


def _bar(label: str) -> tuple[Any, Any]:
    """A tqdm bar driven by a JobControl's progress."""
    from tqdm import tqdm

    from pipelines.jobs import JobControl

    bar, control = tqdm(unit="it", dynamic_ncols=True, desc=label), JobControl()

    def show(progress: Any) -> None:
        bar.total = progress.total_steps or None
        bar.n = progress.step
        if progress.textinfo:
            bar.set_description(progress.textinfo[:90])
        bar.refresh()

    control.listeners.append(show)
    return bar, control


def run_faceset(args: argparse.Namespace) -> int:
    from pipelines.dfl import extract, frames, pack, sort
    from pipelines.dfl.workspace import Workspace

    ws = Workspace.named(args.data_dir, args.workspace)
    if args.action == "create":
        ws.create()
        print(f"workspace {ws.root}")
    elif args.action == "info":
        print(json.dumps(ws.summary(), indent=1))
    elif args.action == "clear":
        ws.clear(confirm=args.yes)
        print(f"cleared {ws.root}")
    elif args.action == "frames":
        bar, control = _bar(f"frames {args.side}")
        report = frames.extract_frames(ws.create(), args.side, args.input, args.fps, control)
        bar.close()
        print(report.describe())
    elif args.action == "extract":
        policy = _setup(args)
        bar, control = _bar(f"faces {args.side}")
        report = extract.extract_faceset(ws, args.side, face_engine(args, policy), args.face_type, args.size,
                                         "all" if args.all_faces else "largest", args.min_score, control)
        bar.close()
        print(report.describe())
    elif args.action == "sort":
        files = sort.sort_faceset(ws, args.side, args.by, args.keep)
        print(f"{args.side}: {len(files)} faces sorted by {args.by}")
    elif args.action == "pack":
        path = pack.pack_faceset(ws, args.side)
        print(f"packed {path}")
    elif args.action == "delete":
        print(f"deleted {sort.delete_faces(ws, args.side, args.names)} faces")
    return 0


MODEL_OPTIONS = ("resolution", "face_type", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "learn_mask",
                 "random_warp", "colour_transfer", "eyes_mouth_priority", "true_face_power", "batch_size", "lr")


def run_train(args: argparse.Namespace) -> int:
    import signal

    from pipelines.dfl.store import model_dir
    from pipelines.dfl.train import Trainer, TrainOptions, prepare_config, run_training
    from pipelines.dfl.workspace import Workspace

    policy = _setup(args)
    ws = Workspace.named(args.data_dir, args.workspace)
    folder = model_dir(args.models_dir, args.model)
    changes = {k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None}
    config, resume = prepare_config(folder, args.preset, **changes)
    options = TrainOptions(iterations=args.iterations, save_minutes=args.save_minutes,
                           preview_every=args.preview_every, backups=args.backups, seed=args.seed)
    trainer = Trainer(ws, folder, config, resume, policy.device, options)
    print(f"{'resuming' if resume else 'new model'} {folder} at iteration {trainer.state.iteration} on "
          f"{policy.device}: {config.resolution} px {config.face_type}, batch {config.batch_size}")
    bar, control = _bar("training")
    previous = signal.signal(signal.SIGINT, lambda *_: control.interrupted.set())
    try:
        report = run_training(trainer, control, log=bar.write)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    print(json.dumps(report.info()))
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from pipelines.dfl.merge import merge_all, merge_preview
    from pipelines.dfl.store import load_model, model_dir
    from pipelines.dfl.swapper import MergeOptions, TrainedSwapper
    from pipelines.dfl.workspace import Workspace

    policy = _setup(args)
    ws = Workspace.named(args.data_dir, args.workspace)
    model, _ = load_model(model_dir(args.models_dir, args.model), policy.device)
    swapper = TrainedSwapper(model, policy.device)
    options = MergeOptions(args.mask_mode, args.erode, args.blur, args.face_scale, args.colour, args.sharpen,
                           args.motion_blur)
    if args.preview_frame is not None:
        out = args.preview_out or ws.root / f"preview-{args.preview_frame:05d}.png"
        merge_preview(ws, swapper, args.preview_frame, options).save(out)
        print(f"preview {out}")
        return 0
    bar, control = _bar("merging")
    report = merge_all(ws, swapper, options, args.output, marks=not args.no_marks, control=control)
    bar.close()
    print(json.dumps(report.info()))
    return 0


COMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable[[argparse.Namespace], int]]] = {
    "faceset": (build_faceset_parser, run_faceset),
    "train-face": (build_train_parser, run_train),
    "merge": (build_merge_parser, run_merge),
}


def run(command: str, args: argparse.Namespace) -> int:
    """Run a sub-command; a mistake the user can fix is one line and exit code 2, not a traceback."""
    try:
        return COMMANDS[command][1](args)
    except (ValueError, LookupError, OSError) as exc:
        print(f"{command}: {exc}")
        return 2
