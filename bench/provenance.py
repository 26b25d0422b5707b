#!/usr/bin/env python
"""How well the provenance marks survive sharing, how often they fire on clean pictures, what they cost.

* Marked set: every wheel-shipped photo of at least 256×256 pixels (scikit-image, insightface,
  matplotlib), marked with ``apply_marks`` as every image output is (Atelier's tiled mark +
  the SDXL-compatible one); the previous Atelier mark (version 1) is written on a copy too,
  for comparison.
* Transforms (``tests/sharing.py``): brightness ±2 levels / ±10%, contrast ±10%, a 10% crop,
  0.5× downscale kept small, screenshot-like 1.25× rescale pasted at an offset, JPEG q75/q50,
  h264 (libx264 crf 23, yuv420p, through PyAV).
* Video: 720p frames (photos resized to 1280×720) marked as video frames are (no SDXL mark by
  default) and read back after h264.
* Clean set (false positives): ``--clean`` random crops (160–512 px) of those photos and of
  LFW mosaics, each through a random sharing transform; the version-2 reader's z and verdict.
* Cost: marking and reading at 512², 1024² and 1280×720.

Run from the repository root (about 5 minutes on 2 shared cores)::

    .venv/bin/python bench/provenance.py --clean 1000 --figures /tmp/marks   # Markdown for RESULTS.md

``--parts clean --seed N --dump FILE`` runs only the false-positive part (several seeds can run
side by side and their z values be pooled).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.provenance import tiled_mark, watermarks  # noqa: E402
from tests.sharing import SHARING, clean_crops, h264, wheel_photos  # noqa: E402


def _v1_marked(image: Image.Image) -> Image.Image:
    rgb = watermarks.embed_atelier_v1(np.asarray(image.convert("RGB"), dtype=np.float32))
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def _rate(found: list[bool]) -> str:
    return f"{sum(found)}/{len(found)} ({100 * sum(found) / max(len(found), 1):.0f}%)"


def survival_table(marked: list[tuple[Image.Image, Image.Image]]) -> list[str]:
    """``marked``: (both current marks, version-1 mark) per photo."""
    rows = ["| transform | Atelier mark found | z median (min) | SDXL mark found (≥34/48) | previous Atelier mark (v1) found |",
            "| --- | --- | --- | --- | --- |"]
    for label, transform in SHARING.items():
        current, zs, sdxl, legacy = [], [], [], []
        for image, old in marked:
            shared = transform(image)
            reading = watermarks.read_atelier_v2(shared)
            current.append(reading.found)
            zs.append(reading.z if reading.z is not None else float("nan"))
            sdxl.append(watermarks.read_sdxl(shared).found)
            legacy.append(watermarks.read_atelier_v1(transform(old)).found)
        rows.append(f"| {label} | {_rate(current)} | {np.nanmedian(zs):.1f} ({np.nanmin(zs):.1f}) | {_rate(sdxl)} | "
                    f"{_rate(legacy)} |")
    return rows


def video_table(photos: list[Image.Image]) -> list[str]:
    rows = ["| 720p frames | Atelier mark found | z median (min) | SDXL mark found (when written) |", "| --- | --- | --- | --- |"]
    frames = [p.resize((1280, 720), Image.Resampling.LANCZOS) for p in photos]
    for label, sdxl in (("marked as frames are (SDXL off), h264 crf 23", False), ("with SDXL mark on, h264 crf 23", True)):
        found, zs, sdxl_found = [], [], []
        for frame in frames:
            shared = h264(23)(watermarks.apply_marks(frame, sdxl=sdxl)[0])
            reading = watermarks.read_atelier_v2(shared)
            found.append(reading.found)
            zs.append(reading.z)
            sdxl_found.append(watermarks.read_sdxl(shared).found)
        rows.append(f"| {label} | {_rate(found)} | {np.median(zs):.1f} ({min(zs):.1f}) | "
                    f"{_rate(sdxl_found) if sdxl else '—'} |")
    return rows


def false_positive_rows(count: int, largest: int, seed: int = 0) -> tuple[list[str], list[float]]:
    zs, found, bounds, slow = [], 0, [], []
    for name, image in clean_crops(count, seed=seed, sizes=(160, largest)):
        start = time.perf_counter()
        reading = tiled_mark.read(image)
        slow.append(time.perf_counter() - start)
        if reading is None:
            continue
        zs.append(reading.z)
        bounds.append(reading.false_alarm)
        found += reading.found
        if reading.found:
            print(f"FALSE POSITIVE: {name} z={reading.z:.2f}", file=sys.stderr)
    q = np.quantile(zs, [0.5, 0.99, 0.999]) if zs else [float("nan")] * 3
    hypotheses = len(tiled_mark.coarse_scales((4096, 4096))) * len(tiled_mark._RESIDUALS) * tiled_mark.TILE ** 2
    upper = 3.0 / len(zs) if found == 0 else float("nan")  # rule of three: 95% upper bound with no event
    rows = ["| clean pictures read | found (false positives) | 95% upper bound on the rate | z median | z 99th pct | z 99.9th pct | z max | threshold z (all scales) | read time median |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {len(zs)} | {found} | {upper:.1e} | {q[0]:.2f} | {q[1]:.2f} | {q[2]:.2f} | {max(zs):.2f} | "
            f"{_threshold_z(hypotheses):.2f} | {1000 * float(np.median(slow)):.0f} ms |"]
    return rows, zs


def _threshold_z(hypotheses: int) -> float:
    low, high = 0.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if tiled_mark.false_alarm_bound(mid, hypotheses) > tiled_mark.FALSE_ALARM else (low, mid)
    return high


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cost_table(photo: Image.Image, repeat: int) -> list[str]:
    rows = ["| size | Atelier mark only (frames) | both marks (images) | SDXL mark alone | read Atelier mark | read SDXL mark |",
            "| --- | --- | --- | --- | --- | --- |"]
    for size in ((512, 512), (1024, 1024), (1280, 720)):
        image = photo.resize(size, Image.Resampling.LANCZOS)
        rgb = np.asarray(image, dtype=np.float32)
        marked, _ = watermarks.apply_marks(image)
        jobs = [lambda im=image: watermarks.apply_marks(im, sdxl=False), lambda im=image: watermarks.apply_marks(im),
                lambda a=rgb: watermarks.embed_sdxl(a), lambda m=marked: watermarks.read_atelier_v2(m),
                lambda m=marked: watermarks.read_sdxl(m)]
        cells = [_best(job, repeat) for job in jobs]
        rows.append(f"| {size[0]}×{size[1]} | " + " | ".join(f"{1000 * c:.0f} ms" for c in cells) + " |")
    return rows


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a.convert("RGB"), dtype=np.float64) - np.asarray(b.convert("RGB"), dtype=np.float64)
    return 10 * np.log10(255.0 ** 2 / max(float(np.mean(diff ** 2)), 1e-12))


def save_figures(folder: Path, original: Image.Image, marked: Image.Image) -> None:
    """A 256² detail of the photo, marked and unmarked side by side at 2×, and the difference ×20."""
    folder.mkdir(parents=True, exist_ok=True)
    box = (128, 64, 384, 320)
    a, b = original.crop(box), marked.crop(box)
    diff = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    amplified = Image.fromarray(np.clip(128 + 20 * diff, 0, 255).astype(np.uint8))
    sheet = Image.new("RGB", (3 * 512 + 20, 512), (255, 255, 255))
    for i, part in enumerate((a, b, amplified)):
        sheet.paste(part.resize((512, 512), Image.Resampling.NEAREST), (i * 522, 0))
    sheet.save(folder / "mark-detail.png")
    marked.save(folder / "marked-full.png")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"CPU {cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, numpy {np.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clean", type=int, default=1000, help="clean crops for the false-positive rate")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    parser.add_argument("--clean-max", type=int, default=512, help="largest side of a clean crop")
    parser.add_argument("--seed", type=int, default=0, help="which random clean crops")
    parser.add_argument("--dump", type=Path, help="write the clean pictures' z values here (one a line)")
    parser.add_argument("--parts", default="survival,video,clean,cost", help="which tables to make")
    parser.add_argument("--figures", type=Path, help="save a marked photo and a detail sheet here")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    photos = [(name, im) for name, im in wheel_photos() if im.width * im.height >= 256 * 256]
    marked = [(watermarks.apply_marks(im)[0], _v1_marked(im)) for _, im in photos]
    quality = [psnr(m, im) for (m, _), (_, im) in zip(marked, photos)]
    atelier_only = [psnr(watermarks.apply_marks(im, sdxl=False)[0], im) for _, im in photos]
    print(f"Machine: {machine()}\n")
    print(f"Marked set: {len(photos)} wheel-shipped photos ≥256² ({', '.join(n for n, _ in photos)}). "
          f"PSNR with Atelier's mark alone: median {np.median(atelier_only):.1f} dB, min {min(atelier_only):.1f} dB; "
          f"with both marks: median {np.median(quality):.1f} dB, min {min(quality):.1f} dB\n")
    if "survival" in parts:
        print("\n".join(survival_table(marked)))
        print()
    if "video" in parts:
        print("\n".join(video_table([im for _, im in photos[:8]])))
    if "clean" in parts:
        print(f"\nClean set: {args.clean} random crops (160–{args.clean_max} px) of the same photos and LFW mosaics, "
              "each through a random sharing transform (tests/sharing.py clean_crops)\n")
        rows, zs = false_positive_rows(args.clean, args.clean_max, args.seed)
        print("\n".join(rows))
        if args.dump:
            args.dump.write_text("".join(f"{z:.4f}\n" for z in zs))
    if "cost" in parts:
        print(f"\nMarking cost per image (best of {args.repeat}):\n")
        print("\n".join(cost_table(dict(photos)["skimage astronaut"], args.repeat)))
    if args.figures:
        original = dict(photos)["skimage astronaut"]
        save_figures(args.figures, original, watermarks.apply_marks(original)[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
