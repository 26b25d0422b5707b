#!/usr/bin/env python
"""How well the provenance marks survive, how often they fire on unmarked images, what they cost.

* Marked set: every corpus image of at least 256×256 pixels, marked with ``apply_marks``
  (SDXL-compatible DWT-DCT mark + Atelier's luminance DWT-SVD mark, as every output is).
* Transforms: none, JPEG q90 / q75 / q50, resize 0.5× and back up, resize 0.5× kept small,
  crop 10% (5% off each side), PNG re-save through RGBA (what screenshot tools do to pixels),
  screenshot-like paste at an offset into a larger canvas.
* Unmarked set (false positives): images that ship in wheels (scikit-image's data images,
  insightface's sample photos) plus synthetic ones (gradients, noise, flat, stripes, shapes);
  read as they are and after JPEG q75.
* Cost: apply_marks / each mark / reading, best of N, at 512² and 1024².

Run from the repository root::

    .venv/bin/python bench/provenance.py            # prints the Markdown tables for RESULTS.md
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.provenance import watermarks  # noqa: E402

Transform = Callable[[Image.Image], Image.Image]


def _jpeg(quality: int) -> Transform:
    def apply(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return apply


def _half_and_back(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.resize((w // 2, h // 2), Image.Resampling.LANCZOS).resize((w, h), Image.Resampling.LANCZOS)


def _half(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)


def _crop(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.crop((w // 20, h // 20, w - w // 20, h - h // 20))


def _png_resave(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGBA").save(buffer, format="PNG", optimize=True)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _screenshot(image: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", (image.width + 40, image.height + 60), (236, 236, 236))
    canvas.paste(image, (13, 37))
    return _png_resave(canvas)


TRANSFORMS: dict[str, Transform] = {
    "none (lossless PNG)": lambda image: image,
    "JPEG q90": _jpeg(90),
    "JPEG q75": _jpeg(75),
    "JPEG q50": _jpeg(50),
    "resize 0.5× and back": _half_and_back,
    "resize 0.5× (kept small)": _half,
    "crop 10%": _crop,
    "PNG re-save via RGBA": _png_resave,
    "screenshot-like (offset in a larger canvas, PNG)": _screenshot,
}


def wheel_images() -> Iterator[tuple[str, Image.Image]]:
    """Photos and drawings that ship inside installed wheels (nothing is downloaded)."""
    from skimage import data

    for name in ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel",
                 "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms",
                 "moon", "page", "retina", "rocket", "text", "checkerboard"):
        try:
            array = getattr(data, name)()
        except Exception:  # a data image that would need a download: not shipped
            continue
        array = np.asarray(array)
        if array.dtype != np.uint8:
            array = (255 * (array.astype(np.float64) / max(float(array.max()), 1e-9))).astype(np.uint8)
        yield f"skimage {name}", Image.fromarray(array).convert("RGB")
    import insightface

    folder = Path(insightface.__file__).parent / "data" / "images"
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() in (".jpg", ".png"):
            yield f"insightface {path.name}", Image.open(path).convert("RGB")


def synthetic_images(size: int = 512) -> Iterator[tuple[str, Image.Image]]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size)
    yield "gradient", Image.fromarray(np.stack([np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)),
                                                np.full((size, size), 128.0)], -1).astype(np.uint8))
    yield "uniform noise", Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    yield "gaussian noise on grey", Image.fromarray(np.clip(rng.normal(128, 20, (size, size, 3)), 0, 255).astype(np.uint8))
    yield "flat grey", Image.new("RGB", (size, size), (128, 128, 128))
    yield "black", Image.new("RGB", (size, size), (0, 0, 0))
    yield "white", Image.new("RGB", (size, size), (255, 255, 255))
    stripes = ((np.arange(size) // 8) % 2 * 255).astype(np.uint8)
    yield "stripes", Image.fromarray(np.stack([np.tile(stripes, (size, 1))] * 3, -1))
    for seed in range(8):
        shapes = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(shapes)
        for _ in range(30):
            x0, y0 = (int(v) for v in rng.integers(0, size, 2))
            x1, y1 = x0 + int(rng.integers(10, size // 2)), y0 + int(rng.integers(10, size // 2))
            color = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=color)
        yield f"shapes {seed}", shapes


def _cell(readings: list[watermarks.MarkReading], n: int) -> tuple[str, str]:
    """One mark's detection rate over ``n`` images and its median (min) matching bits."""
    bits = [r.matched for r in readings if r.matched is not None]
    found = sum(r.found for r in readings)
    unread = n - len(bits)
    rate = f"{found}/{n} ({100 * found / n:.0f}%)" + (f", {unread} too small to read" if unread else "")
    return rate, (f"{int(np.median(bits))} ({min(bits)})" if bits else "—")


def detection_table(marked: list[tuple[str, Image.Image]]) -> list[str]:
    rows = ["| transform | SDXL found (≥34/48) | SDXL bits, median | Atelier found (≥40/48) | Atelier bits, median (min) |",
            "| --- | --- | --- | --- | --- |"]
    for label, transform in TRANSFORMS.items():
        sdxl, ours = [], []
        for _, image in marked:
            attacked = transform(image)
            sdxl.append(watermarks.read_sdxl(attacked))
            ours.append(watermarks.read_atelier(attacked))
        s_rate, s_bits = _cell(sdxl, len(marked))
        a_rate, a_bits = _cell(ours, len(marked))
        rows.append(f"| {label} | {s_rate} | {s_bits.split(' ')[0]} | {a_rate} | {a_bits} |")
    return rows


def false_positive_table(unmarked: list[tuple[str, Image.Image]]) -> list[str]:
    rows = ["| unmarked set | images read | SDXL found | SDXL bits max | Atelier found | Atelier bits max |",
            "| --- | --- | --- | --- | --- | --- |"]
    for label, transform in (("as shipped", lambda image: image), ("after JPEG q75", _jpeg(75))):
        readings = [(watermarks.read_sdxl(transform(im)), watermarks.read_atelier(transform(im)))
                    for _, im in unmarked if watermarks.readable(im)]
        sdxl_bits = [s.matched for s, _ in readings]
        ours_bits = [a.matched for _, a in readings]
        rows.append(f"| {label} | {len(readings)} | {sum(s.found for s, _ in readings)} | {max(sdxl_bits)} | "
                    f"{sum(a.found for _, a in readings)} | {max(ours_bits)} |")
    return rows


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cost_table(photo: Image.Image, repeat: int) -> list[str]:
    rows = ["| size | both marks (apply_marks) | SDXL mark only | Atelier mark only | read SDXL | read Atelier |",
            "| --- | --- | --- | --- | --- | --- |"]
    for side in (512, 1024):
        image = photo.resize((side, side), Image.Resampling.LANCZOS)
        rgb = np.asarray(image, dtype=np.float32)
        marked, _ = watermarks.apply_marks(image)
        cells = [_best(partial(watermarks.apply_marks, image), repeat), _best(partial(watermarks.embed_sdxl, rgb), repeat),
                 _best(partial(watermarks.embed_atelier, rgb), repeat), _best(partial(watermarks.read_sdxl, marked), repeat),
                 _best(partial(watermarks.read_atelier, marked), repeat)]
        rows.append(f"| {side}×{side} | " + " | ".join(f"{1000 * c:.0f} ms" for c in cells) + " |")
    return rows


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return 10 * np.log10(255.0 ** 2 / max(float(np.mean(diff ** 2)), 1e-12))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"CPU {cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, numpy {np.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats (best of)")
    args = parser.parse_args()
    wheel = list(wheel_images())
    synthetic = list(synthetic_images())
    corpus = wheel + synthetic
    to_mark = [(name, im) for name, im in wheel if watermarks.readable(im)]
    marked = [(name, watermarks.apply_marks(im)[0]) for name, im in to_mark]
    quality = [psnr(m, im) for (_, m), (_, im) in zip(marked, to_mark)]
    print(f"Machine: {machine()}\n")
    print(f"Marked set: {len(marked)} wheel-shipped images ≥256² ({', '.join(n for n, _ in to_mark)}); "
          f"PSNR after both marks: median {np.median(quality):.1f} dB, min {min(quality):.1f} dB\n")
    print("\n".join(detection_table(marked)))
    print(f"\nUnmarked set: {len(wheel)} wheel-shipped + {len(synthetic)} synthetic images\n")
    print("\n".join(false_positive_table(corpus)))
    print("\nMarking cost per image (best of %d):\n" % args.repeat)
    print("\n".join(cost_table(dict(to_mark)["skimage astronaut"], args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
