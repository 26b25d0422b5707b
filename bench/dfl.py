"""A bounded DeepFaceLab-style training run on CPU: does the loss fall on both sides, and does merging
move identity from the destination person to the source person?

Two clips are built from real photos shipped in wheels (scikit-image's astronaut = source,
matplotlib's Grace Hopper = destination), animated with pan, zoom and small rotations. The bench
extracts both facesets with the built-in (dlib) face engine, trains for ``--minutes``, merges every
destination frame and measures, per frame, the distance of the merged face's dlib 128-d embedding
(L2-normalised) to the source identity and to the destination identity (means over each clip's
original frames). The built-in ``classic`` swap is measured on the same frames for comparison.

    .venv/bin/python bench/dfl.py --minutes 10 --threads 1 --out /tmp/dfl-bench

Prints a JSON summary (and writes it with the loss plot, preview grid and a strip of merged
frames to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def identity(engine, images) -> np.ndarray:
    vectors = []
    for rgb in images:
        faces = engine.detect(rgb, order="size")
        if faces:
            vectors.append(faces[0].embedding)
    mean = np.mean(vectors, axis=0)
    return mean / np.linalg.norm(mean)


def distances(engine, rgb, src_id, dst_id):
    faces = engine.detect(rgb, order="size")
    if not faces:
        return None
    e = faces[0].embedding
    return float(np.linalg.norm(e - src_id)), float(np.linalg.norm(e - dst_id))


def summarise(pairs) -> dict:
    found = [p for p in pairs if p is not None]
    if not found:
        return {"frames_with_face": 0}
    d_src, d_dst = np.array(found).T
    return {"frames_with_face": len(found), "of_frames": len(pairs),
            "closer_to_source": int((d_src < d_dst).sum()),
            "median_distance_to_source": round(float(np.median(d_src)), 4),
            "median_distance_to_destination": round(float(np.median(d_dst)), 4),
            "per_frame": [[round(a, 4), round(b, 4)] for a, b in found]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip")
    parser.add_argument("--size", type=int, default=192, help="clip frame size")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--ae-dims", type=int, default=128)
    parser.add_argument("--e-dims", type=int, default=32)
    parser.add_argument("--d-dims", type=int, default=32)
    parser.add_argument("--d-mask-dims", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--no-random-warp", action="store_true", help="learn plain reconstruction (faster start)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from pipelines.context import AppConfig, AtelierContext
    from pipelines.dfl.extract import extract_faceset
    from pipelines.dfl.frames import extract_frames, frame_files
    from pipelines.dfl.merge import dst_faces, merge_frame
    from pipelines.dfl.swapper import MergeOptions, TrainedSwapper
    from pipelines.dfl.train import Trainer, TrainOptions, prepare_config, run_training
    from pipelines.dfl.workspace import Workspace
    from pipelines.jobs import JobControl
    from tests.dfl_clips import write_clip

    work = Path(tempfile.mkdtemp(prefix="dfl-bench-"))
    out = args.out or work / "out"
    out.mkdir(parents=True, exist_ok=True)
    ctx = AtelierContext(AppConfig(data_dir=work / "data", models_dir=work / "models", hash_in_background=False,
                                   device=args.device))
    engine = ctx.faces
    ws = Workspace.named(work / "data", "bench").create()
    t0 = time.monotonic()
    for side, who in (("src", "astronaut"), ("dst", "hopper")):
        extract_frames(ws, side, write_clip(work / f"{who}.mp4", who, frames=args.frames, size=args.size))
        report = extract_faceset(ws, side, engine, "full", 128)
        print(report.describe(), file=sys.stderr)
    extract_seconds = time.monotonic() - t0
    src_frames = [np.asarray(Image.open(p).convert("RGB")) for p in frame_files(ws, "src")]
    dst_frames = [np.asarray(Image.open(p).convert("RGB")) for p in frame_files(ws, "dst")]
    src_id, dst_id = identity(engine, src_frames), identity(engine, dst_frames)

    folder = work / "models" / "dfl" / "bench"
    config, _ = prepare_config(folder, resolution=args.resolution, ae_dims=args.ae_dims, e_dims=args.e_dims,
                               d_dims=args.d_dims, d_mask_dims=args.d_mask_dims, batch_size=args.batch_size,
                               lr=args.lr, random_warp=not args.no_random_warp)
    trainer = Trainer(ws, folder, config, False, torch.device(args.device),
                      TrainOptions(save_minutes=1e9, preview_every=0, log_every=10))
    control, deadline = JobControl(), time.monotonic() + args.minutes * 60
    control.listeners.append(lambda p: control.interrupted.set() if time.monotonic() > deadline else None)
    report = run_training(trainer, control, log=lambda s: print(s, file=sys.stderr))
    history = np.array(report.history)
    window = max(1, min(5, len(history) // 4))
    loss = {side: {"first": round(float(history[:window, col].mean()), 4),
                   "last": round(float(history[-window:, col].mean()), 4)}
            for side, col in (("src", 1), ("dst", 2))}

    swapper = TrainedSwapper(trainer.model.eval(), torch.device(args.device))
    by_frame = dst_faces(ws)
    meta = ws.read_frames_meta("dst")
    merged, t1 = [], time.monotonic()
    for frame, rgb in zip(meta["frames"], dst_frames):
        merged.append(merge_frame(swapper, rgb, by_frame.get(frame["file"], []), MergeOptions(mask_mode="combined")))
    merge_fps = len(merged) / (time.monotonic() - t1)
    trained_pairs = [distances(engine, m, src_id, dst_id) for m in merged]
    prepared = engine.prepare_source(src_frames[0], method="classic")
    classic = [np.asarray(engine.swap_prepared(rgb, prepared).image) for rgb in dst_frames]
    classic_pairs = [distances(engine, m, src_id, dst_id) for m in classic]
    original_pairs = [distances(engine, m, src_id, dst_id) for m in dst_frames]

    picks = np.linspace(0, len(merged) - 1, 6).astype(int)
    strip = Image.new("RGB", (args.size * 6, args.size * 3))
    for col, i in enumerate(picks):
        for row, source in enumerate((dst_frames, merged, classic)):
            strip.paste(Image.fromarray(source[i]), (col * args.size, row * args.size))
    strip.save(out / "merged-strip.png")
    for name in ("preview.png", "loss.png"):
        if (folder / name).is_file():
            Image.open(folder / name).save(out / name)
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
                   f"torch {torch.__version__}, device {args.device}",
        "config": config.to_json(), "frames_per_clip": args.frames, "extract_seconds": round(extract_seconds, 1),
        "iterations": report.iteration, "train_seconds": round(report.seconds, 1),
        "it_per_s": round(report.iterations_per_second, 3), "loss": loss,
        "loss_curve": [[int(h[0]), h[1], h[2]] for h in history[:: max(1, len(history) // 20)]],
        "merge_frames_per_s": round(merge_fps, 2),
        "source_vs_destination_identity_distance": round(float(np.linalg.norm(src_id - dst_id)), 4),
        "trained_model": summarise(trained_pairs), "classic_swap": summarise(classic_pairs),
        "destination_unchanged": summarise(original_pairs),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "loss_curve"} | {
        k: {kk: vv for kk, vv in summary[k].items() if kk != "per_frame"}
        for k in ("trained_model", "classic_swap", "destination_unchanged")}, indent=1))
    print(f"pictures and summary.json in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
