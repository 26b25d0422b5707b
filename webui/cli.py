"""Command-line flags (A1111 names where A1111 has one). Standard library only, so that
``python launch.py --help`` works before anything is installed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from webui.credentials import ENV_VAR, cli_pairs

REPO_ROOT = Path(__file__).resolve().parent.parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description="Atelier: image generation and face work in the browser. "
        "Sub-commands: 'test' installs the test extras and runs the test suite; "
        "'train-detector' trains a deepfake detector (see 'launch.py train-detector --help'); "
        "'eval-detector' evaluates one (see 'launch.py eval-detector --help'); "
        "'faceset', 'train-face' and 'merge' run DeepFaceLab's workflow (see 'launch.py faceset --help').",
    )
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    parser.add_argument("--listen", action="store_true",
                        help="bind 0.0.0.0 instead of 127.0.0.1; refused without authentication unless "
                        "--listen-without-auth")
    parser.add_argument("--listen-without-auth", action="store_true",
                        help="allow --listen with no authentication: anyone who can reach the port can use the UI "
                        "and API, change settings and read your outputs")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data",
                        help="config.json, caches and outputs/ (default ./data)")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models",
                        help="models folder in A1111's layout (default ./models); an A1111 'models' folder works")
    parser.add_argument("--api", action="store_true", help="mount the A1111-compatible API at /sdapi/v1")
    parser.add_argument("--nowebui", action="store_true", help="serve the API only (implies --api)")
    auth = parser.add_argument_group(
        "authentication",
        "One login for the whole app: UI (login page), Gradio API, /docs, /sdapi/v1, /atelier/v1 and extension "
        "routes (HTTP Basic for API clients). All sources add users. Give passwords in a file "
        "(--gradio-auth-path) or the {ENV_VAR} environment variable (user:pass[,user2:pass2]): a password on "
        "the command line can be read by every user of this machine.".replace("{ENV_VAR}", ENV_VAR))
    auth.add_argument("--gradio-auth-path", type=Path, default=None, metavar="FILE",
                      help="file of user:password entries, separated by commas or new lines (A1111's flag)")
    auth.add_argument("--api-auth", type=cli_pairs, default=None, metavar="USER:PASS[,USER2:PASS2]",
                      help="users on the command line (A1111's flag; visible to other local users: prefer "
                      "--gradio-auth-path or " + ENV_VAR + ")")
    auth.add_argument("--gradio-auth", type=cli_pairs, default=None, metavar="USER:PASS[,USER2:PASS2]",
                      help="the same as --api-auth (A1111's name for the UI login)")
    web = parser.add_argument_group("cross-origin requests and served folders")
    web.add_argument("--cors-allow-origins", default="", metavar="ORIGINS",
                     help="comma-separated origins (https://host:port) whose web pages may call this server with "
                     "the user's credentials (CORS) and change things (else refused as cross-site requests)")
    web.add_argument("--cors-allow-origins-regex", default=None, metavar="REGEX",
                     help="origins matching this regular expression are allowed as with --cors-allow-origins")
    web.add_argument("--gradio-allowed-path", action="append", type=Path, default=[], metavar="FOLDER",
                     help="a folder the UI may read, write and serve by path besides the outputs (img2img batch, "
                     "detector training folders); repeatable")
    parser.add_argument("--skip-install", action="store_true", help="do not check or install dependencies")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 …")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--no-hashing-at-start", action="store_true",
                        help="hash checkpoints on first load instead of in the background at start-up")
    parser.add_argument("--extensions-dir", type=Path, default=REPO_ROOT / "extensions",
                        help="folder of extensions (default ./extensions)")
    parser.add_argument("--disable-all-extensions", action="store_true", help="start without loading extensions")
    parser.add_argument("--enable-insecure-extension-access", action="store_true",
                        help="allow installing and updating extensions from the UI even with --listen, and from "
                        "file:// sources (code from a folder on this machine)")
    return parser


DETECTOR_ARCHES = ("xception", *(f"efficientnet-b{i}" for i in range(8)))


def build_train_detector_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py train-detector",
        description="Train a deepfake detector from real face pictures (Self-Blended Images makes the fakes; "
        "--fake adds your own). The result is models/detectors/<out>.safetensors + <out>.json.",
    )
    parser.add_argument("--real", type=Path, required=True, help="folder of real face pictures (searched recursively)")
    parser.add_argument("--fake", type=Path, default=None, help="optional folder of manipulated face pictures")
    parser.add_argument("--arch", default="efficientnet-b4", choices=DETECTOR_ARCHES)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16, help="pictures per step, half real and half fake")
    parser.add_argument("--size", type=int, default=256, help="input size in pixels")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="output name (default <arch>-sbi)")
    parser.add_argument("--resume", action="store_true", help="continue from the last epoch's checkpoint")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights (ImageNet EfficientNet, DeepfakeBench, SBI, DFDC or Atelier file)")
    parser.add_argument("--freeze-bn", action=argparse.BooleanOptionalAction, default=None,
                        help="keep BatchNorm statistics fixed (default: yes with --init, else recalibrated each epoch)")
    parser.add_argument("--no-sbi", action="store_true", help="train on --fake only, no self-blended fakes")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of the people (not pictures) held out for validation")
    parser.add_argument("--patience", type=int, default=3, help="stop after this many epochs without a better val AUC")
    parser.add_argument("--min-val-auc", type=float, default=0.7,
                        help="install the model only at this validation AUC or more (people it never trained on)")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data",
                        help="checkpoints go to <data-dir>/train-detector/<out>/")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-install", action="store_true")
    return parser


def build_eval_detector_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py eval-detector",
        description="Evaluate a detector on folders of real and fake faces (pictures and videos): frame- and "
        "video-level AUC, EER, AP, accuracy at the threshold with bootstrap intervals, per-domain AUC (sub-folders "
        "of --fake), ROC and calibration PNGs; written to models/detectors/<stem>.eval/.",
    )
    parser.add_argument("--real", type=Path, required=True, help="folder of real pictures / videos (recursive)")
    parser.add_argument("--fake", type=Path, required=True, help="folder of fakes; its sub-folders are the domains")
    parser.add_argument("--detector", default=None, help="file name in models/detectors (default: the first)")
    parser.add_argument("--threshold", type=float, default=None, help="default: the detector's own")
    parser.add_argument("--every", type=int, default=None, help="score every k-th video frame")
    parser.add_argument("--per-second", type=float, default=2.0, help="else about this many frames a second")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    parser.add_argument("--whole-image", action="store_true", help="score whole pictures (already face crops)")
    parser.add_argument("--out", type=Path, default=None, help="default: models/detectors/<stem>.eval/")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-install", action="store_true")
    return parser


def public_flags(args: argparse.Namespace) -> dict[str, object]:
    """The parsed flags as JSON values (A1111's ``cmd-flags``), with credentials redacted."""
    flags = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    for secret in ("api_auth", "gradio_auth"):
        if flags.get(secret):
            flags[secret] = "<redacted>"
    flags["gradio_allowed_path"] = [str(p) for p in flags.get("gradio_allowed_path") or []]
    return flags


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.nowebui:
        args.api = True
    return args
