"""Face engine on real photos: identity transfer of the built-in swap, detection under rotation
and scale, seconds per swap, video-frame throughput.

Photos: insightface's group photo ``t1.jpg`` and ``Tom_Hanks_54745.png``, scikit-image's
astronaut, matplotlib's ``grace_hopper.jpg`` and the Obama/Biden photos of the
``face_recognition`` 1.3.0 sdist (``python launch.py test`` fetches it into ``.venv/test-data``;
by hand: ``pip download --no-deps --no-binary :all: face_recognition==1.3.0 -d .venv/test-data``).

Identity is dlib's 128-d face descriptor (the raw vector, Euclidean distance, dlib's scale: the
same person across photos 0.33-0.41 here, different people 0.70-0.90, threshold 0.6). A swap
*transfers identity* when result→source < 0.6 and result→source < result→target. For Obama
sources the result is also compared with a held-out photo of him (``obama3.jpg``) that no swap
reads: a check the identity-refinement pass cannot have optimised for.

    .venv/bin/python bench/faces.py --swaps --out /tmp/faces-bench       # identity table + images
    .venv/bin/python bench/faces.py --detect                             # rotation / scale grid
    .venv/bin/python bench/faces.py --video                              # 720p frames/s
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``pipelines`` and ``tests`` importable
    sys.path.insert(0, str(ROOT))

from tests.faces_data import astronaut, grace_hopper, insightface_photo, real_people_sdist, real_person  # noqa: E402

# (source, target, target face index in left-right order): different people only.
SWAPS = [
    ("obama", "biden", 0), ("biden", "obama2", 0), ("obama", "hopper", 0), ("hopper", "obama2", 0),
    ("astronaut", "hopper", 0), ("hopper", "astronaut", 0), ("astronaut", "biden", 0), ("biden", "astronaut", 0),
    ("tom", "astronaut", 0), ("tom", "obama2", 0), ("astronaut", "group", 1), ("obama", "group", 3),
    ("hopper", "group", 4), ("biden", "group", 2),
]
HELD_OUT = {"obama": "obama3"}
SAME_PERSON = 0.6


def photos() -> dict[str, np.ndarray]:
    """The photo set as RGB arrays (the Obama/Biden ones only when the sdist is present)."""
    found = {"group": insightface_photo("t1.jpg"), "tom": insightface_photo("Tom_Hanks_54745.png"),
             "astronaut": astronaut(), "hopper": grace_hopper()}
    if real_people_sdist() is not None:
        for name in ("obama", "obama2", "obama3", "biden"):
            found[name] = real_person(f"{name}.jpg")
    return {name: np.asarray(image.convert("RGB")) for name, image in found.items()}


@dataclass
class Identity:
    """dlib's raw 128-d descriptor of the face nearest a point (or the biggest face)."""

    engine: Any

    def faces(self, rgb: np.ndarray) -> list:
        return self.engine.detect(rgb, "left-right", embed=False, backend="builtin")

    def descriptor(self, rgb: np.ndarray, box) -> np.ndarray:
        return self.engine.builtin.embed(rgb, box, normalise=False)

    def of_face_near(self, rgb: np.ndarray, center: tuple[float, float], fallback_box) -> tuple[np.ndarray, bool]:
        """(descriptor, found by the detector); when no face is detected there, the box it had before."""
        faces = self.faces(rgb)
        near = [f for f in faces if abs(f.center[0] - center[0]) + abs(f.center[1] - center[1]) < 0.5 * f.width]
        if near:
            return self.descriptor(rgb, near[0].box), True
        return self.descriptor(rgb, fallback_box), False


def crop(rgb: np.ndarray, box) -> Image.Image:
    """The face and 0.6 of its width around it, for looking at results at 100%."""
    x1, y1, x2, y2 = (int(v) for v in box)
    pad = int((x2 - x1) * 0.6)
    return Image.fromarray(rgb[max(y1 - pad, 0):y2 + pad, max(x1 - pad, 0):x2 + pad])


def bench_swaps(engine: Any, images: dict[str, np.ndarray], out: Optional[Path], options: dict) -> list[dict]:
    ident = Identity(engine)
    refs = {}
    for name, rgb in images.items():
        faces = ident.faces(rgb)
        if faces:
            biggest = max(faces, key=lambda f: f.width)
            refs[name] = (faces, ident.descriptor(rgb, biggest.box))
    rows = []
    for source, target, index in SWAPS:
        if source not in images or target not in images:
            continue
        target_faces = refs[target][0]
        face = target_faces[index] if target != "group" else target_faces[index]
        src_face = max(refs[source][0], key=lambda f: f.width)
        source_vec = ident.descriptor(images[source], src_face.box)
        target_vec = ident.descriptor(images[target], face.box)
        started = time.perf_counter()
        result = engine.swap(images[source], images[target], target_face_indices=[target_faces.index(face)],
                             **options)
        seconds = time.perf_counter() - started
        rgb = np.asarray(result.image)
        vec, detected = ident.of_face_near(rgb, face.center, face.box)
        row = {"source": source, "target": f"{target}#{index}" if target == "group" else target,
               "to_source": float(np.linalg.norm(vec - source_vec)), "to_target": float(np.linalg.norm(vec - target_vec)),
               "detected": detected, "seconds": seconds, "info": result.info}
        if source in HELD_OUT and HELD_OUT[source] in refs:
            row["to_held_out"] = float(np.linalg.norm(vec - refs[HELD_OUT[source]][1]))
        row["transferred"] = row["to_source"] < SAME_PERSON and row["to_source"] < row["to_target"]
        rows.append(row)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            crop(rgb, face.box).save(out / f"{source}-to-{row['target']}.png")
            crop(images[target], face.box).save(out / f"{row['target']}-before.png")
        print(f"{source:>10} -> {row['target']:<9} to_source {row['to_source']:.3f} to_target {row['to_target']:.3f}"
              f"{' held-out %.3f' % row['to_held_out'] if 'to_held_out' in row else ''} "
              f"{'OK ' if row['transferred'] else 'no '}{'' if detected else '(not detected) '}{seconds:.2f}s",
              file=sys.stderr)
    return rows


def rotate(rgb: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` rotated counter-clockwise with the canvas grown to fit, and the 2x3 matrix old→new."""
    import cv2

    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[:, 2] += (nw / 2 - w / 2, nh / 2 - h / 2)
    return cv2.warpAffine(rgb, matrix, (nw, nh), borderMode=cv2.BORDER_CONSTANT), matrix


def bench_detection(engine: Any, images: dict[str, np.ndarray], angles: list[float], scales: list[float],
                    detect_options: dict) -> list[dict]:
    """found / true faces and false positives per (angle, scale) over the photo set (Tom Hanks only at 1×).

    The true faces are those found upright at full size (12: six in the group photo, one in each other).
    """
    import cv2

    truth = {}
    for name, rgb in images.items():
        if name in ("obama3",):
            continue
        truth[name] = [(np.array(f.center), f.width)
                       for f in engine.detect(rgb, embed=False, backend="builtin", rotation="off")]
    rows = []
    for scale in scales:
        for angle in angles:
            found = true = false = 0
            started = time.perf_counter()
            for name, rgb in images.items():
                if name not in truth or (name == "tom" and scale < 1):
                    continue
                small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale != 1 else rgb
                turned, matrix = rotate(small, angle)
                faces = engine.detect(turned, embed=False, **detect_options)
                expected = [(matrix[:, :2] @ (c * scale) + matrix[:, 2], w * scale) for c, w in truth[name]]
                hit = [False] * len(expected)
                for face in faces:
                    c = np.array(face.center)
                    match = [i for i, (e, w) in enumerate(expected) if np.linalg.norm(c - e) < 0.5 * w]
                    if match:
                        hit[match[0]] = True
                    else:
                        false += 1
                found += sum(hit)
                true += len(expected)
            rows.append({"scale": scale, "angle": angle, "found": found, "true": true, "false": false,
                         "seconds": time.perf_counter() - started})
            print(f"scale {scale:g} angle {angle:g}: {found}/{true} found, {false} false "
                  f"({rows[-1]['seconds']:.1f}s)", file=sys.stderr)
    return rows


def bench_video(engine: Any, images: dict[str, np.ndarray], frames: int, options: dict) -> dict:
    """Frames/s of detect + swap (one face) on 1280x720 frames: the per-frame work of a video job, no codec."""
    import cv2

    canvas = np.zeros((720, 1280, 3), np.uint8)
    person = cv2.resize(images["astronaut"], (720, 720))
    prepared = engine.prepare_source(images["hopper"], 0, method=options.get("method", "auto"))
    from pipelines.faces.swap import SwapOptions

    settings = SwapOptions(**{k: v for k, v in options.items() if k != "method"})
    started = time.perf_counter()
    for i in range(frames):
        frame = canvas.copy()
        x = 200 + 8 * i
        frame[:, x:x + 720] = person
        engine.swap_prepared(frame, prepared, settings)
    seconds = time.perf_counter() - started
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--swaps", action="store_true", help="identity transfer of the built-in swap")
    parser.add_argument("--detect", action="store_true", help="detection over rotations and scales")
    parser.add_argument("--video", action="store_true", help="720p per-frame throughput")
    parser.add_argument("--method", default="classic")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="extra swap option (SwapOptions field), e.g. blend=alpha")
    parser.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                        help="extra detect() option, e.g. rotations=0")
    parser.add_argument("--angles", default="0,15,30,45,60,90")
    parser.add_argument("--scales", default="1,0.5,0.25")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--out", type=Path, help="write result crops here (look at them)")
    args = parser.parse_args(argv)

    from pipelines.context import AppConfig, AtelierContext
    import tempfile

    def value(text: str) -> Any:
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return {"true": True, "false": False}.get(text.lower(), text)

    options = {"method": args.method, **{k: value(v) for k, v in (o.split("=", 1) for o in args.option)}}
    detect_options = {k: value(v) for k, v in (o.split("=", 1) for o in args.detector_option)}
    print(f"machine: {machine()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AtelierContext(AppConfig(data_dir=Path(tmp) / "data", models_dir=Path(tmp) / "models",
                                       hash_in_background=False))
        try:
            images = photos()
            if real_people_sdist() is None:
                print("face_recognition-1.3.0.tar.gz not in .venv/test-data: Obama/Biden photos left out",
                      file=sys.stderr)
            if args.swaps:
                rows = bench_swaps(ctx.faces, images, args.out, options)
                ok = sum(r["transferred"] for r in rows)
                print("\n| source | target | result→source | result→target | held-out photo | transferred | s |")
                print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
                for r in rows:
                    held = f"{r['to_held_out']:.3f}" if "to_held_out" in r else ""
                    print(f"| {r['source']} | {r['target']} | {r['to_source']:.3f} | {r['to_target']:.3f} | {held} | "
                          f"{'yes' if r['transferred'] else 'no'}{'' if r['detected'] else ' (not re-detected)'} | "
                          f"{r['seconds']:.2f} |")
                print(f"\ntransferred {ok}/{len(rows)}; median result→source "
                      f"{statistics.median(r['to_source'] for r in rows):.3f}, result→target "
                      f"{statistics.median(r['to_target'] for r in rows):.3f}; median s/swap "
                      f"{statistics.median(r['seconds'] for r in rows):.2f}; options {options}")
            if args.detect:
                rows = bench_detection(ctx.faces, images, [float(a) for a in args.angles.split(",")],
                                       [float(s) for s in args.scales.split(",")], detect_options)
                print("\n| scale | angle | found / true | false positives | s (whole set) |")
                print("| ---: | ---: | ---: | ---: | ---: |")
                for r in rows:
                    print(f"| {r['scale']:g} | {r['angle']:g}° | {r['found']}/{r['true']} | {r['false']} | "
                          f"{r['seconds']:.1f} |")
                print(f"\ntotal {sum(r['found'] for r in rows)}/{sum(r['true'] for r in rows)}, "
                      f"false {sum(r['false'] for r in rows)}; detector options {detect_options}")
            if args.video:
                r = bench_video(ctx.faces, images, args.frames, options)
                print(f"\nvideo 1280x720, one face: {r['frames']} frames in {r['seconds']:.1f}s = "
                      f"{r['fps']:.2f} frames/s (detect + swap, no codec); options {options}")
        finally:
            ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
