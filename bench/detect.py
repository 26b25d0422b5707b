#!/usr/bin/env python
"""The detector evaluation protocol on a test set built from wheel photos, with a model trained here.

* **Training set**: LFW faces 0–69 of scikit-image's ``lfw_subset`` (25×25 grey, upscaled),
  fakes self-blended by the trainer (SBI), identity-disjoint validation inside the trainer.
* **Test set** (no picture or person of the training set):
  - reals: LFW faces 70–99 (domain ``lfw``) and every face dlib finds in the wheel photos —
    insightface's group photo and Tom Hanks, scikit-image's astronaut, matplotlib's Grace
    Hopper, and the Obama/Biden photos of the face_recognition sdist when ``.venv/test-data``
    has it (domain ``photos``);
  - fakes: SBI blends of LFW 70–99 (domain ``sbi``) and Atelier's own built-in classic swaps
    between those photos (domain ``swap``; the same source → target pairs as bench/faces.py).
  Caveat: LFW's identities are not labelled, so "LFW 70–99 are other people than 0–69" is an
  assumption (the subset was drawn at random from 5,749 people).
* The trained model is evaluated with ``pipelines.detect.evaluate`` (whole crops, no face
  detection) whether or not the trainer installed it; the refusal is part of the result.

Run from the repository root (about 3–6 minutes on 2 shared cores)::

    .venv/bin/python bench/detect.py --out /tmp/detect-bench     # Markdown for RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.faces import SWAPS, photos  # noqa: E402
from tests.sharing import lfw_faces  # noqa: E402

SIDE = 64


def _face_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC).save(path)


def _square(rgb: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    from pipelines.detect.crops import crop, square_crop_box

    return crop(rgb, square_crop_box(box, 1.3, rgb.shape[1], rgb.shape[0]))


def build_sets(root: Path, engine: object) -> dict[str, int]:
    """Write train/real, test/real/{lfw,photos}, test/fake/{sbi,swap}; returns counts."""
    from pipelines.detect.sbi import self_blend

    faces = (lfw_faces()[:100] * 255).astype(np.uint8)
    for i in range(70):
        _face_png(faces[i], root / "train" / "real" / f"lfw{i:03d}.png")
    rng = np.random.default_rng(7)
    for i in range(70, 100):
        rgb = np.asarray(Image.fromarray(faces[i]).convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC))
        _face_png(rgb, root / "test" / "real" / "lfw" / f"lfw{i:03d}.png")
        _face_png(self_blend(rgb, None, rng)[0], root / "test" / "fake" / "sbi" / f"sbi{i:03d}.png")
    images = photos()
    detected = {name: engine.detect(rgb, "left-right", embed=False, backend="builtin") for name, rgb in images.items()}
    for name, found in detected.items():
        for k, face in enumerate(found):
            _face_png(_square(images[name], face.box), root / "test" / "real" / "photos" / f"{name}-{k}.png")
    for source, target, index in SWAPS:
        if source not in images or target not in images or len(detected[target]) <= index:
            continue
        result = engine.swap(images[source], images[target], target_face_indices=[index], method="classic")
        box = detected[target][index].box
        _face_png(_square(np.asarray(result.image.convert("RGB")), box),
                  root / "test" / "fake" / "swap" / f"{source}-to-{target}-{index}.png")
    return {f"{side}/{domain}": len(list((root / "test" / side / domain).glob("*.png")))
            for side, domain in (("real", "lfw"), ("real", "photos"), ("fake", "sbi"), ("fake", "swap"))}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    import torch

    return f"CPU {cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} ({torch.get_num_threads()} thread)"


def _row(level: str, m: dict) -> str:
    if not m.get("n_real") or not m.get("n_fake"):
        return f"| {level} | {m.get('n_real', 0)} / {m.get('n_fake', 0)} | — | — | — | — |"
    cell = lambda k: f"{m[k]:.3f} [{m[k + '_ci'][0]:.3f}, {m[k + '_ci'][1]:.3f}]"  # noqa: E731
    return f"| {level} | {m['n_real']} / {m['n_fake']} | {cell('auc')} | {cell('eer')} | {cell('ap')} | {cell('accuracy')} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--arch", default="efficientnet-b0")
    parser.add_argument("--out", type=Path, default=None, help="keep the sets, model and figures here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from pipelines.context import AppConfig, AtelierContext
    from pipelines.detect.detector import Detector
    from pipelines.detect.evaluate import evaluate
    from pipelines.detect.loader import load_network
    from pipelines.detect.train import TrainConfig, train_detector

    root = args.out or Path(tempfile.mkdtemp(prefix="detect-bench-"))
    ctx = AtelierContext(AppConfig(data_dir=root / "data", models_dir=root / "models", hash_in_background=False))
    try:
        started = time.perf_counter()
        counts = build_sets(root / "sets", ctx.faces)
        built = time.perf_counter() - started
        config = TrainConfig(real_dir=root / "sets" / "train" / "real", name="bench-sbi", arch=args.arch,
                             epochs=args.epochs, batch_size=16, size=SIDE, lr=args.lr, patience=4, val_fraction=0.3)
        lines: list[str] = []
        started = time.perf_counter()
        report = train_detector(config, root / "models", root / "work", log=lines.append)
        trained = time.perf_counter() - started
        model, spec = load_network(report.weights)
        detector = Detector(report.weights.name, model, spec, torch.device("cpu"))
        started = time.perf_counter()
        result = evaluate(detector, root / "sets" / "test" / "real", root / "sets" / "test" / "fake",
                          lambda image: [], root / "eval", rounds=1000)
        evaluated = time.perf_counter() - started
    finally:
        ctx.close()
    print(f"Machine: {machine()}\n")
    print(f"Test set ({built:.0f} s to build): " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
    print(f"Training ({trained:.0f} s): {args.arch} from scratch at {SIDE} px, SBI fakes, {report.identities}, "
          f"class balance {report.class_balance}; BatchNorm {report.batchnorm}.\n")
    print("| epoch | loss | val AUC | Mann-Whitney p | val accuracy | mean P(fake) real / fake |")
    print("| --- | --- | --- | --- | --- | --- |")
    for e in report.epochs:
        print(f"| {e['epoch']} | {e['loss']:.3f} | {e['val_auc']:.3f} | {e['val_p']:.2g} | {e['val_acc']:.3f} | "
              f"{e['val_score_real']:.3f} / {e['val_score_fake']:.3f} |")
    verdict = "installed" if report.installed else f"NOT installed: {report.refusal}"
    print(f"\nBest epoch {report.best_epoch}; {verdict}.\n")
    print(f"Evaluation ({evaluated:.0f} s; threshold {result.threshold:.2f}; 95% bootstrap intervals, 1,000 "
          "resamples of folders/pictures):\n")
    print("| level | real / fake | AUC | EER | AP | accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level, m in result.levels.items():
        print(_row(level, m))
    print("\n| fake domain (vs all reals) | fakes | frame AUC | EER | AP |")
    print("| --- | --- | --- | --- | --- |")
    for name, m in result.domains.items():
        print(f"| {name} | {m['n_fake']} | {m['auc']:.3f} [{m['auc_ci'][0]:.3f}, {m['auc_ci'][1]:.3f}] | "
              f"{m['eer']:.3f} | {m['ap']:.3f} |")
    reals = {}
    for name in ("lfw", "photos"):
        scores = [s["score"] for s in _samples(root / "eval") if s["label"] == 0 and s["domain"] == name]
        reals[name] = float(np.mean(scores)) if scores else float("nan")
    print(f"\nMean P(fake) of reals by domain: {', '.join(f'{k} {v:.3f}' for k, v in reals.items())}")
    print(f"Figures: {', '.join(result.figures.values())}")
    return 0


def _samples(folder: Path) -> list[dict]:
    import json

    return [s for s in json.loads((folder / "eval.json").read_text())["samples"] if s["level"] == "frame"]


if __name__ == "__main__":
    raise SystemExit(main())
