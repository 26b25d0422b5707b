#!/usr/bin/env python
"""What an X/Y/Z plot costs on top of the images it makes.

Two scenarios on the test suite's tiny SD1 model (random weights, built into a temp folder):

* ``N×N grid``: CFG Scale × Seed (every cell the same amount of work) through
  ``run_xyz_plot`` against the same N² requests as single ``engine.txt2img`` calls. Both save
  every image with its infotext; the grid also draws and saves the labelled grid. Runs
  alternate (single calls, grid, single calls, …) so machine noise hits both alike; medians.
  The grid's cells are checked to be pixel-identical to the single calls.
* ``checkpoint axis``: 2 checkpoints on X × 3 seeds on Y. Counts model switches (the
  manager's ``on_model_loaded``) and times the grid against the same 6 single calls in
  A1111's default loop order (X innermost: a switch per call) and grouped by model.

Run from the repository root::

    .venv/bin/python bench/bench_xyz.py --threads 1
    .venv/bin/python bench/bench_xyz.py --threads 1 --results   # append the table to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``pipelines`` and ``tests`` importable
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pipelines.context import AppConfig, AtelierContext  # noqa: E402
from pipelines.diffusion.request import Txt2ImgRequest  # noqa: E402
from pipelines.scripts import XyzAxis, XyzOptions, run_xyz_plot  # noqa: E402
from pipelines.scripts.grid import labelled_grid, plain_labels, save_grid  # noqa: E402
from pipelines.scripts.runner import with_fields  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", type=int, default=3, help="N for the N×N grid (default 3)")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--side", type=int, default=64, help="image width and height")
    p.add_argument("--repeat", type=int, default=5, help="timed rounds after one warm-up round")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--results", action="store_true", help="append the report to bench/RESULTS.md")
    return p.parse_args()


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def own_seconds(fn: Callable[[], object], runs: int = 3) -> float:
    """Seconds per call spent in the X/Y/Z plot itself, not in the engine jobs it runs.

    From a profile (cumulative run_xyz_plot − cumulative GenerationEngine._run), so unlike
    the wall-clock difference above it is free of the machine's noise.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(file_end: str, name: str) -> float:
        return sum(v[3] for (file, _, func), v in stats.items() if func == name and file.endswith(file_end))

    return (cumulative("xyz_plot.py", "run_xyz_plot") - cumulative("engine.py", "_run")) / runs


def max_diff(a, b) -> int:
    return int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import diffusers

    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} ({torch.get_num_threads()} "
            f"threads), diffusers {diffusers.__version__}, Python {platform.python_version()}, CPU fp32")


def grid_scenario(ctx: AtelierContext, args: argparse.Namespace) -> list[str]:
    n = args.grid
    base = Txt2ImgRequest(prompt="a red fox in the snow", checkpoint="bench-a", width=args.side, height=args.side,
                          steps=args.steps, seed=1)
    cfgs, seeds = [str(5 + i) for i in range(n)], [str(1 + i) for i in range(n)]
    x, y = XyzAxis("CFG Scale", ", ".join(cfgs)), XyzAxis("Seed", ", ".join(seeds))
    singles_requests = [with_fields(base, cfg_scale=float(c), seed=int(s)) for s in seeds for c in cfgs]

    def singles() -> list:
        return [ctx.engine.txt2img(r) for r in singles_requests]

    def grid() -> object:
        return run_xyz_plot(ctx.engine, base, x, y, options=XyzOptions())

    singles(), grid()  # warm-up: pipelines built, LoRA state settled, files cached
    single_times, grid_times = [], []
    for _ in range(args.repeat):
        t, single_results = timed(singles)
        single_times.append(t)
        t, grid_result = timed(grid)
        grid_times.append(t)
    diff = max(max_diff(s.images[0], c.images[0]) for s, c in zip(single_results, grid_result.cells))

    tiles = [c.images[0] for c in grid_result.cells]
    draw_time, drawn = timed(lambda: labelled_grid(tiles, plain_labels(cfgs), plain_labels(seeds)))
    save_time, _ = timed(lambda: save_grid(ctx.writer, drawn, "txt2img", grid_result.infotexts[0]))
    own = own_seconds(grid)

    s_med, g_med = statistics.median(single_times), statistics.median(grid_times)
    cells = n * n
    return [
        f"| {n}×{n} grid (CFG × Seed), {cells} cells: {cells} single calls | {s_med:.3f} s "
        f"({s_med / cells * 1000:.1f} ms/image) | min {min(single_times):.3f} s |",
        f"| same as one X/Y/Z plot | {g_med:.3f} s | min {min(grid_times):.3f} s |",
        f"| wall-clock difference (median plot − median singles; noisy) | {g_med - s_med:+.3f} s "
        f"({(g_med - s_med) / s_med * 100:+.1f}%) | per cell {(g_med - s_med) / cells * 1000:+.1f} ms |",
        f"| X/Y/Z plot's own time per plot (profiled: plot − engine jobs) | {own * 1000:.1f} ms | "
        f"{own / g_med * 100:.1f}% of the plot; planning, progress, grid drawing and saving |",
        f"| of which: drawing the labelled grid / saving the grid PNG | {draw_time * 1000:.1f} ms / "
        f"{save_time * 1000:.1f} ms | grid {drawn.width}×{drawn.height} |",
        f"| cells vs single calls, max pixel difference | {diff} | 0 = identical |",
    ]


def checkpoint_scenario(ctx: AtelierContext, args: argparse.Namespace) -> list[str]:
    base = Txt2ImgRequest(prompt="a red fox", checkpoint="bench-a", width=args.side, height=args.side,
                          steps=args.steps, seed=1)
    models, seeds = ["bench-a", "bench-b"], [1, 2, 3]
    switches: list[str] = []
    ctx.manager.on_model_loaded.append(lambda loaded: switches.append(loaded.info.name))

    def run(requests: list) -> tuple[float, int]:
        ctx.manager.checkpoint("bench-a")
        switches.clear()
        t, _ = timed(lambda: [ctx.engine.txt2img(r) for r in requests])
        return t, len(switches)

    naive = [with_fields(base, checkpoint=m, seed=s) for s in seeds for m in models]  # X innermost
    grouped = [with_fields(base, checkpoint=m, seed=s) for m in models for s in seeds]
    run(naive)  # warm-up: both models loaded and cached
    rows = []
    for label, requests in (("6 single calls, A1111 default order (X innermost)", naive),
                            ("6 single calls grouped by checkpoint", grouped)):
        times, count = zip(*(run(requests) for _ in range(args.repeat)))
        rows.append(f"| {label} | {statistics.median(times):.3f} s | model switches: {count[0]} |")
    times, counts = [], []
    for _ in range(args.repeat):
        ctx.manager.checkpoint("bench-a")
        switches.clear()
        t, _ = timed(lambda: run_xyz_plot(ctx.engine, base, XyzAxis("Checkpoint name", ", ".join(models)),
                                          XyzAxis("Seed", "1, 2, 3")))
        times.append(t)
        counts.append(len(switches))
    rows.append(f"| X/Y/Z plot, checkpoint on X | {statistics.median(times):.3f} s | model switches: {counts[0]} "
                f"(one to bench-b, one back) |")
    return rows


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from tests.factory import build_checkpoint

    with tempfile.TemporaryDirectory(prefix="bench-xyz-") as tmp:
        models, data = Path(tmp) / "models", Path(tmp) / "data"
        build_checkpoint(models, "sd1", "bench-a", seed=0)
        build_checkpoint(models, "sd1", "bench-b", seed=1)
        ctx = AtelierContext(AppConfig(data_dir=data, models_dir=models, hash_in_background=False,
                                       cpu_threads=args.threads))
        try:
            rows = grid_scenario(ctx, args) + checkpoint_scenario(ctx, args)
        finally:
            ctx.close()
    report = "\n".join([
        f"## X/Y/Z plot overhead — {datetime.date.today().isoformat()}",
        "",
        f"`bench/bench_xyz.py --grid {args.grid} --steps {args.steps} --side {args.side} --repeat {args.repeat} "
        f"--threads {args.threads}` on {machine()}. Tiny SD1 test model, DPM++ 2M, images saved as PNG with "
        "infotext on both sides; medians of the timed rounds.",
        "",
        "| measurement | value | note |",
        "| --- | --- | --- |",
        *rows,
        "",
        "Reading: the plot runs its cells through the same engine path as single calls (identical pixels), "
        "so its cost over N single calls is its own fixed work: planning, the progress relay, drawing and "
        "saving the grid. With the checkpoint on X, cost ordering iterates it outermost: each model is "
        "switched to once. Both tiny models stay cached on the CPU here, so a switch is nearly free; on a GPU "
        "each avoided switch is a model moved between host and device.",
        "",
    ])
    print(report)
    if args.results:
        # Append only: another benchmark writes to the same file.
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write("\n" + report)


if __name__ == "__main__":
    main()
