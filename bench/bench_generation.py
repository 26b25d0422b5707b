#!/usr/bin/env python
"""Atelier's generation engine against a plain diffusers pipeline: one machine, one run.

Measured (bench/README.md says what each number means):

* seconds per image and denoising it/s of ``ctx.engine.txt2img`` against
  ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline.from_single_file`` loaded from the same
  file with the same config folder and tokenizers, and run with the same scheduler, size, steps,
  guidance and initial latents (the two images are compared to prove it);
* checkpoint load time: ``from_single_file`` against Atelier's first ``manager.checkpoint``;
* the cached switch A -> B -> A through the model manager (the second A must be a cache hit).

Run from the repository root with the project's venv, e.g.::

    .venv/bin/python bench/bench_generation.py --kind sd1 --size tiny
    .venv/bin/python bench/bench_generation.py --kind sdxl --size full --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import gc
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``pipelines`` and ``tests`` importable
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from pipelines import configs  # noqa: E402
from pipelines.context import AppConfig, AtelierContext, force_offline, quiet_libraries  # noqa: E402
from pipelines.diffusion.request import Txt2ImgRequest  # noqa: E402
from pipelines.diffusion.samplers import make_scheduler  # noqa: E402
from pipelines.jobs import JobControl, Progress  # noqa: E402
from pipelines.models.architecture import Architecture, ModelFamily  # noqa: E402
from pipelines.models.identify import identify_file  # noqa: E402
from pipelines.models.loader import pipeline_class  # noqa: E402

KINDS = ("sd1", "sdxl")
NATIVE_SIDE = {"sd1": 512, "sdxl": 1024}
# The tiny models exist to expose per-job and per-step overhead: small images keep the model's
# own work small so that any fixed cost shows (at 512² the tiny UNet's full-resolution attention
# dominates at ~2 s per step on CPU).
TINY_SIDE = 128
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
GIB = 1 << 30
CKPT_A, CKPT_B = "bench-a", "bench-b"


# ------------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run's choices, resolved from the command line."""

    kind: str
    size: str
    steps: int
    device: str
    precision: str
    repeat: int
    threads: int
    width: int
    height: int
    sampler: str
    cfg_scale: float
    prompt: str
    negative_prompt: str
    seed: int
    disk_precision: str
    order: str
    same_prompt: bool
    workdir: Optional[Path]
    profile_dir: Optional[Path]
    json_path: Optional[Path]

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def on_cpu(self) -> bool:
        return self.torch_device.type == "cpu"

    def prompt_for(self, call: int) -> str:
        """The prompt of a system's ``call``-th image (0: the warm-up); both systems get the same.

        It changes per call unless ``same_prompt``, so that both encode it every time: Atelier
        keeps encoded prompts across jobs and would otherwise skip the text encoders.
        """
        return self.prompt if self.same_prompt else f"{self.prompt}, take {call}"


def parse_args(argv: Optional[list[str]] = None) -> BenchConfig:
    """Command line → :class:`BenchConfig`, with size- and device-dependent defaults filled in."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=KINDS, default="sd1")
    p.add_argument("--size", choices=("tiny", "full"), default="tiny",
                   help="tiny random test model, or the full-size architecture with random weights")
    p.add_argument("--steps", type=int, help="default: 20; full size on CPU: 2")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=("auto", *DTYPES), default="auto", help="auto: fp16 on CUDA, fp32 on CPU")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up run (median reported)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads")
    p.add_argument("--width", type=int, help=f"default: tiny {TINY_SIDE}; full 512 (sd1) / 1024 (sdxl)")
    p.add_argument("--height", type=int, help="default: same as width")
    p.add_argument("--sampler", default="DPM++ 2M", help="A1111 sampler name (schedule: Automatic)")
    p.add_argument("--cfg-scale", type=float, default=7.0)
    p.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--same-prompt", action="store_true",
                   help="the same prompt for every image (Atelier then reuses its encoding); default: "
                        "', take N' is appended so both systems encode every prompt")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--disk-precision", choices=("fp16", "fp32"), default="fp16",
                   help="dtype of the exported full-size checkpoint file")
    p.add_argument("--order", choices=("auto", "interleaved", "sequential"), default="auto",
                   help="interleaved: both loaded, timed runs alternate (auto for tiny); sequential: load, "
                        "measure and free one system, then the other (auto for full: one model in memory)")
    p.add_argument("--workdir", type=Path, help="keep (and reuse) the checkpoints here instead of a temp dir")
    p.add_argument("--profile", dest="profile_dir", type=Path, help="write cProfile stats of the timed runs here")
    p.add_argument("--json", dest="json_path", type=Path, help="also write the results as JSON")
    a = p.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    precision = a.precision if a.precision != "auto" else ("fp16" if a.device == "cuda" else "fp32")
    width = a.width or (NATIVE_SIDE[a.kind] if a.size == "full" else TINY_SIDE)
    return BenchConfig(
        kind=a.kind, size=a.size, steps=a.steps or (2 if a.size == "full" and a.device == "cpu" else 20),
        device=a.device, precision=precision, repeat=max(1, a.repeat), threads=a.threads, width=width,
        height=a.height or width, sampler=a.sampler, cfg_scale=a.cfg_scale, prompt=a.prompt,
        negative_prompt=a.negative_prompt, seed=a.seed, disk_precision=a.disk_precision,
        order=a.order if a.order != "auto" else ("interleaved" if a.size == "tiny" else "sequential"),
        same_prompt=a.same_prompt,
        workdir=a.workdir, profile_dir=a.profile_dir, json_path=a.json_path,
    )


# ------------------------------------------------------------------------------------ timing


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock stamps mean finished work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """Wall time plus this process's CPU time and page faults over the same span."""

    wall: float = 0.0
    cpu: float = 0.0  # process CPU seconds (all threads): robust to other processes' load
    user: float = 0.0  # the same split into user and system time (10 ms resolution)
    sys: float = 0.0
    page_faults: int = 0  # minor faults: first touches of fresh memory


@contextlib.contextmanager
def stopwatch(device: torch.device, profiler: Optional[cProfile.Profile] = None) -> Iterator[Timing]:
    """Measure the ``with`` body (synchronised on CUDA, profiled when a profiler is given)."""
    timing = Timing()
    synchronize(device)
    times, faults = os.times(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        yield timing
    finally:
        if profiler is not None:
            profiler.disable()
        synchronize(device)
        end_times = os.times()
        timing.wall, timing.cpu = time.perf_counter() - start, time.process_time() - cpu_start
        timing.user, timing.sys = end_times.user - times.user, end_times.system - times.system
        timing.page_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


class StepClock:
    """Stamps the end of each denoising step; both systems report steps through it."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stamps: list[float] = []

    def tick(self) -> None:
        synchronize(self.device)
        self.stamps.append(time.perf_counter())

    def diffusers_callback(self, pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        """``callback_on_step_end`` for the plain pipeline."""
        self.tick()
        return kwargs

    def job_listener(self, progress: Progress) -> None:
        """:class:`JobControl` listener for Atelier (step 0 is the job start, not a step)."""
        if progress.step > 0:
            self.tick()

    def loop_rate(self) -> Optional[float]:
        """Steps per second between the end of step 1 and the end of the last step."""
        if len(self.stamps) < 2:
            return None
        return (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])


@dataclass
class Run:
    """One timed image."""

    timing: Timing
    loop_rate: Optional[float]


@dataclass
class GenStats:
    """The timed runs of one system (the warm-up run is not among them)."""

    runs: list[Run]
    peak_gpu_bytes: Optional[int] = None

    @property
    def seconds(self) -> float:
        return statistics.median(r.timing.wall for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.timing.cpu for r in self.runs)

    @property
    def fastest(self) -> float:
        return min(r.timing.wall for r in self.runs)

    @property
    def loop_rate(self) -> Optional[float]:
        rates = [r.loop_rate for r in self.runs if r.loop_rate is not None]
        return statistics.median(rates) if rates else None


Function = tuple[str, str]  # (path fragment, function name) in a profile


def own_seconds(profiler: Optional[cProfile.Profile], outer: Function,
                inner: list[tuple[Function, ...]], calls: int) -> Optional[float]:
    """Per-call time in ``outer`` minus the time in the ``inner`` calls, from a profile.

    This isolates Atelier's own work around the diffusers calls it makes, free of the machine's
    noise. Each ``inner`` entry lists alternatives for one call, outermost first (a decorator's
    wrapper, then the function): the largest time found is subtracted.
    """
    if profiler is None or not calls:
        return None
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}

    def cumulative(function: Function) -> float:
        fragment, name = function
        return sum(v[3] for k, v in stats.items() if fragment in k[0] and k[2] == name)

    inside = sum(max(cumulative(f) for f in alternatives) for alternatives in inner)
    return (cumulative(outer) - inside) / calls


# ----------------------------------------------------------------------------------- systems


class System:
    """One side of the comparison: load it, generate with it, close it."""

    label = ""

    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        self.load = Timing()
        self.calls = 0  # images generated, warm-up included: picks the prompt
        self.runs: list[Run] = []
        self.image: Optional[Image.Image] = None
        self.peak_gpu_bytes: Optional[int] = None
        self.profiler = cProfile.Profile() if cfg.profile_dir else None
        self.load_profiler = cProfile.Profile() if cfg.profile_dir else None

    # -- what each system provides
    def open(self) -> None:
        """Load the model, setting ``self.load`` (profiled with ``self.load_profiler``)."""
        raise NotImplementedError

    def generate(self, clock: StepClock, prompt: str) -> Image.Image:
        raise NotImplementedError

    def extras(self) -> None:
        """Measurements after the timed runs (Atelier: the model switch)."""

    def release(self) -> None:
        """Drop every reference to the model."""
        raise NotImplementedError

    # -- shared
    def close(self) -> None:
        self.release()
        free_memory(self.cfg.torch_device)
        if self.cfg.profile_dir is not None:
            for profiler, name in ((self.profiler, self.label), (self.load_profiler, f"{self.label}-load")):
                if profiler is not None:
                    dump_profile(profiler, self.cfg.profile_dir, name)

    def next_prompt(self) -> str:
        self.calls += 1
        return self.cfg.prompt_for(self.calls - 1)

    def warm_up(self) -> None:
        self.generate(StepClock(self.cfg.torch_device), self.next_prompt())

    def timed_run(self) -> None:
        """One measured image: the whole call, plus the per-step clock."""
        clock, prompt = StepClock(self.cfg.torch_device), self.next_prompt()
        with stopwatch(self.cfg.torch_device, self.profiler) as timing:
            self.image = self.generate(clock, prompt)
        self.runs.append(Run(timing, clock.loop_rate()))

    @property
    def stats(self) -> GenStats:
        return GenStats(self.runs, self.peak_gpu_bytes)


def dump_profile(profiler: cProfile.Profile, folder: Path, label: str) -> None:
    """Write ``<label>.prof`` and print its top functions by own time."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}.prof"
    profiler.dump_stats(str(path))
    print(f"\n--- cProfile {label} ({path}) ---", file=sys.stderr)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_sequential(systems: list[System]) -> None:
    """Each in turn: load, warm up, ``repeat`` timed runs, extras, free — one model in memory."""
    for system in systems:
        log(f"{system.label}: load, warm-up, timed runs ...")
        device = system.cfg.torch_device
        system.open()
        try:
            system.warm_up()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(system.cfg.repeat):
                system.timed_run()
            if device.type == "cuda":
                system.peak_gpu_bytes = torch.cuda.max_memory_allocated(device)
            system.extras()
        finally:
            system.close()


def measure_interleaved(systems: list[System]) -> None:
    """All loaded; timed runs alternate so machine noise hits each alike (small models only)."""
    log("all systems: load, warm-up, alternating timed runs, extras ...")
    try:
        for system in systems:
            system.open()
        for system in systems:
            system.warm_up()
        for _ in range(systems[0].cfg.repeat):
            for system in systems:
                system.timed_run()
        for system in systems:
            system.extras()
    finally:
        for system in systems:
            system.close()


# ------------------------------------------------------------------------------- checkpoints


def build_full_model(kind: str, dtype: torch.dtype) -> Any:
    """The full-size ``kind`` architecture from the bundled configs, random weights, in ``dtype``.

    Components are built one at a time and cast at once, so the peak stays near the size of the
    largest one in fp32 (SDXL's UNet: ~10 GB) rather than the whole model.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from tests.factory import TinyModel

    family = ModelFamily(kind)
    folder = configs.config_dir(Architecture(family))
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    torch.manual_seed(0)

    def made(module: torch.nn.Module) -> torch.nn.Module:
        return module.to(dtype).eval()

    unet = made(UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")))
    vae = made(AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")))
    text_encoder = made(CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")))
    text_encoder_2 = None
    if (folder / "text_encoder_2").is_dir():
        text_encoder_2 = made(CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(folder / "text_encoder_2")))
    # The scheduler is not part of a single-file checkpoint; the bundled config supplies it.
    return TinyModel(kind, family, index["_class_name"], unet, vae, text_encoder, text_encoder_2, scheduler=None)


def write_full_checkpoint(kind: str, path: Path, dtype: torch.dtype) -> Path:
    """Export a random full-size ``kind`` model to ``path`` (no sidecar: the catalog identifies it)."""
    from safetensors.torch import save_file

    from tests.factory import export_model

    model = build_full_model(kind, dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(export_model(model), str(path), metadata={"format": "pt"})
    del model
    gc.collect()
    return path


def write_tiny_checkpoint(kind: str, models_dir: Path, name: str, seed: int) -> Path:
    """The test suite's tiny ``kind`` model, with its sidecar config folder."""
    from tests.factory import build_checkpoint

    return build_checkpoint(models_dir, kind, name, seed=seed)


def link_checkpoint(source: Path, name: str) -> Path:
    """A second catalog entry for the same weights: a hard link (plus a copy of any sidecar)."""
    target = source.with_name(name + source.suffix)
    os.link(source, target)
    sidecar = source.with_suffix(".config")
    if sidecar.is_dir():
        shutil.copytree(sidecar, target.with_suffix(".config"))
    return target


def resident_bytes(path: Path, cfg: BenchConfig) -> int:
    """Roughly what ``path`` occupies once loaded in the run's dtype."""
    disk = DTYPES[cfg.disk_precision] if cfg.size == "full" else torch.float32
    return path.stat().st_size * cfg.dtype.itemsize // disk.itemsize


def device_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return psutil.virtual_memory().total


@dataclass
class Checkpoints:
    a: Path
    b: Path
    b_kind: str  # "same weights (hard link)", or "tiny <kind>" when two full copies would not fit


def prepare_checkpoints(cfg: BenchConfig, models_dir: Path) -> Checkpoints:
    """Checkpoint A (the measured one) and B (for the switch), reusing files already there."""
    folder = models_dir / "Stable-diffusion"
    a, b = folder / f"{CKPT_A}.safetensors", folder / f"{CKPT_B}.safetensors"
    if not a.is_file():
        if cfg.size == "full":
            write_full_checkpoint(cfg.kind, a, DTYPES[cfg.disk_precision])
        else:
            write_tiny_checkpoint(cfg.kind, models_dir, CKPT_A, seed=0)
    if not b.is_file():
        if 2 * resident_bytes(a, cfg) < 0.6 * device_memory(cfg.torch_device):
            link_checkpoint(a, CKPT_B)
        else:
            write_tiny_checkpoint(cfg.kind, models_dir, CKPT_B, seed=1)
    same = b.stat().st_ino == a.stat().st_ino
    return Checkpoints(a, b, "same weights (hard link)" if same else f"tiny {cfg.kind}")


# ---------------------------------------------------------------------------------- diffusers


def seeded_latents(cfg: BenchConfig, channels: int) -> torch.Tensor:
    """The initial noise Atelier draws for ``cfg.seed`` (one CPU generator per image)."""
    generator = torch.Generator("cpu").manual_seed(cfg.seed)
    shape = (1, channels, cfg.height // 8, cfg.width // 8)
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(cfg.torch_device, cfg.dtype)


def load_diffusers(path: Path, cfg: BenchConfig) -> Any:
    """The plain pipeline, loaded as Atelier loads it: same config folder, tokenizers and dtype."""
    arch = identify_file(path, None)
    sidecar = path.with_suffix(".config")
    sidecar_dir = sidecar if sidecar.is_dir() else None
    pipe = pipeline_class(arch, "txt2img").from_single_file(
        str(path),
        config=str(sidecar_dir or configs.config_dir(arch)),
        local_files_only=True,
        torch_dtype=cfg.dtype,
        safety_checker=None,
        requires_safety_checker=False,
        **configs.load_tokenizers(arch, sidecar_dir),
    )
    pipe.to(cfg.torch_device)
    pipe.set_progress_bar_config(disable=True)
    # The scheduler class and config Atelier builds for this sampler, set once.
    pipe.scheduler = make_scheduler(cfg.sampler, "Automatic", pipe.scheduler.config)
    return pipe


class DiffusersSystem(System):
    """The plain pipeline, called as its documentation shows (latents passed in)."""

    label = "diffusers"

    def __init__(self, cfg: BenchConfig, checkpoint: Path) -> None:
        super().__init__(cfg)
        self.checkpoint = checkpoint
        self.pipe: Any = None

    def open(self) -> None:
        with stopwatch(self.cfg.torch_device, self.load_profiler) as self.load:
            self.pipe = load_diffusers(self.checkpoint, self.cfg)

    def generate(self, clock: StepClock, prompt: str) -> Image.Image:
        cfg = self.cfg
        return self.pipe(
            prompt=prompt,
            # No negative prompt given, as a plain user would; diffusers then encodes "" (SD1)
            # or, on SDXL, uses zeros — what Atelier does for an empty negative (A1111).
            negative_prompt=cfg.negative_prompt or None,
            width=cfg.width,
            height=cfg.height,
            num_inference_steps=cfg.steps,
            guidance_scale=cfg.cfg_scale,
            latents=seeded_latents(cfg, self.pipe.vae.config.latent_channels),
            generator=torch.Generator("cpu").manual_seed(cfg.seed + 1),
            callback_on_step_end=clock.diffusers_callback,
        ).images[0]

    def release(self) -> None:
        self.pipe = None


# ------------------------------------------------------------------------------------ Atelier


@dataclass
class SwitchResult:
    to_b: Timing  # A -> B: a cold load of B
    back_to_a: Timing  # B -> A: must be a cache hit
    cache_budget_gb: float


def make_context(cfg: BenchConfig, models_dir: Path, data_dir: Path) -> AtelierContext:
    """A context as ``launch.py`` builds one; every sha256 is computed now, not in the background."""
    config = AppConfig(
        data_dir=data_dir, models_dir=models_dir, device=cfg.device, precision=cfg.precision,
        cpu_threads=cfg.threads, hash_in_background=False,
    )
    return AtelierContext(config)


def ensure_cache_room(ctx: AtelierContext, loaded_bytes: int) -> float:
    """Raise the ``model_cache_gb`` setting, if needed, so A and B are both kept (GiB)."""
    needed = 2.2 * loaded_bytes / GIB
    if ctx.settings.model_cache_gb < needed:
        ctx.settings_store.update({"model_cache_gb": round(needed + 0.5, 1)})
        ctx.apply_settings()
    return ctx.settings.model_cache_gb


# Atelier's own work in a load: the manager call minus diffusers' loader and the tokenizers
# (which the plain pipeline loads too); in a job: the engine minus the pipeline call and the
# text-encoder passes (Atelier encodes prompts itself, A1111-style; diffusers does it inside
# its call).
# ``from_single_file`` is wrapped by huggingface_hub's argument validator (``_inner_fn``).
LOAD_OUTER = ("pipelines/models/manager.py", "checkpoint")
LOAD_INNER = [
    (("huggingface_hub/utils/_validators.py", "_inner_fn"), ("diffusers/loaders/single_file.py", "from_single_file")),
    (("pipelines/configs/", "load_tokenizers"),),
]
JOB_OUTER = ("pipelines/diffusion/engine.py", "_run")
JOB_INNER = [(("diffusers/pipelines/", "__call__"),), (("pipelines/prompts/conditioning.py", "run"),)]


class AtelierSystem(System):
    """Atelier as the API drives it: a context, requests through ``ctx.engine.txt2img``."""

    label = "atelier"

    def __init__(self, cfg: BenchConfig, models_dir: Path, data_dir: Path) -> None:
        super().__init__(cfg)
        self.models_dir, self.data_dir = models_dir, data_dir
        self.ctx: Optional[AtelierContext] = None
        self.context = Timing()
        self.switch: Optional[SwitchResult] = None

    def open(self) -> None:
        """Context start (catalog scan + sha256), then the cold load of A, timed apart."""
        with stopwatch(torch.device("cpu")) as self.context:
            ctx = self.ctx = make_context(self.cfg, self.models_dir, self.data_dir)
        if ctx.manager.loads:
            raise RuntimeError("the context loaded a checkpoint before the cold-load measurement")
        with stopwatch(self.cfg.torch_device, self.load_profiler) as self.load:
            ctx.manager.checkpoint(CKPT_A)

    def generate(self, clock: StepClock, prompt: str) -> Image.Image:
        cfg = self.cfg
        assert self.ctx is not None
        request = Txt2ImgRequest(
            prompt=prompt,
            negative_prompt=cfg.negative_prompt,
            seed=cfg.seed,
            sampler_name=cfg.sampler,
            scheduler="Automatic",
            steps=cfg.steps,
            cfg_scale=cfg.cfg_scale,
            width=cfg.width,
            height=cfg.height,
            checkpoint=CKPT_A,
            save_images=False,
        )
        return self.ctx.engine.txt2img(request, JobControl(listeners=[clock.job_listener])).images[0]

    def extras(self) -> None:
        """A -> B -> A through the manager; the way back must not touch the disk."""
        ctx = self.ctx
        assert ctx is not None
        budget = ensure_cache_room(ctx, ctx.manager.checkpoint(CKPT_A).nbytes)
        device = self.cfg.torch_device
        with stopwatch(device) as to_b:
            ctx.manager.checkpoint(CKPT_B)
        loads = len(ctx.manager.loads)
        with stopwatch(device) as back:
            ctx.manager.checkpoint(CKPT_A)
        if len(ctx.manager.loads) != loads:
            raise RuntimeError(f"switching back to {CKPT_A} loaded it again: the model cache did not keep it")
        self.switch = SwitchResult(to_b, back, budget)

    def own_job_seconds(self) -> Optional[float]:
        return own_seconds(self.profiler, JOB_OUTER, JOB_INNER, len(self.runs))

    def own_load_seconds(self) -> Optional[float]:
        return own_seconds(self.load_profiler, LOAD_OUTER, LOAD_INNER, 1)

    def release(self) -> None:
        if self.ctx is not None:
            self.ctx.manager.unload()
            self.ctx.close()
        self.ctx = None


# ------------------------------------------------------------------------------------ report


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def atelier_revision() -> str:
    """The repository's commit, with "+changes" when the engine code differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return commit + (" +changes" if git("status", "--porcelain", "--", "pipelines") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(cfg: BenchConfig) -> dict[str, str]:
    """What the numbers were measured on."""
    import diffusers

    device = cfg.device
    if cfg.torch_device.type == "cuda":
        device = f"cuda ({torch.cuda.get_device_name(cfg.torch_device)}, CUDA {torch.version.cuda})"
    return {
        "cpu": cpu_model(),
        "cores": f"{psutil.cpu_count(logical=False)} physical / {os.cpu_count()} logical",
        "ram": f"{psutil.virtual_memory().total / GIB:.1f} GiB",
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
        "device": device,
        "dtype": cfg.precision,
        "atelier": atelier_revision(),
    }


def image_difference(a: Image.Image, b: Image.Image) -> int:
    """Largest per-channel difference between two images (0-255); 0 means identical pixels."""
    return int(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max())


def overhead(atelier: Optional[float], diffusers: Optional[float]) -> str:
    """Atelier's extra time in percent of diffusers' (both arguments are times)."""
    if not atelier or not diffusers:
        return "—"
    return f"{(atelier / diffusers - 1) * 100:+.1f}%"


def ratio(atelier: Optional[float], diffusers: Optional[float]) -> str:
    """``atelier / diffusers`` (times) and the overhead in percent."""
    if not atelier or not diffusers:
        return "—"
    return f"{atelier / diffusers:.3f} ({overhead(atelier, diffusers)})"


def num(value: Optional[float], digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def rate(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.3g}"


def inverse(value: Optional[float]) -> Optional[float]:
    return 1.0 / value if value else None


def gpu_mib(stats: GenStats) -> str:
    return "—" if stats.peak_gpu_bytes is None else f"{stats.peak_gpu_bytes / (1 << 20):.0f}"


def load_cpu(t: Timing) -> str:
    return f"{t.user:.2f} + {t.sys:.2f} / {t.page_faults / 1e6:.2f}"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # Linux: KiB


Row = tuple[str, str, str, str]


@dataclass
class Report:
    cfg: BenchConfig
    machine: dict[str, str]
    ckpts: Checkpoints
    base: DiffusersSystem
    atelier: AtelierSystem
    peak_rss_gib: float
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())

    SUMMARY_HEADER = (
        "| date | model | size | device | threads | steps | repeat | diffusers s/img | Atelier s/img | overhead "
        "| overhead (CPU time) | diffusers it/s | Atelier it/s | diffusers load s | Atelier cold load s "
        "| cached switch s | pixel diff |\n"
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |"
    )

    @property
    def pixel_diff(self) -> int:
        assert self.base.image is not None and self.atelier.image is not None
        return image_difference(self.base.image, self.atelier.image)

    @property
    def switch(self) -> SwitchResult:
        assert self.atelier.switch is not None
        return self.atelier.switch

    def title(self) -> str:
        c = self.cfg
        return (f"{c.kind} {c.size}, {c.width}×{c.height}, {c.steps} steps, {c.sampler}, CFG {c.cfg_scale:g}, "
                f"{c.device} {c.precision}, {c.threads} threads, repeat {c.repeat}, {c.order}")

    def generation_rows(self) -> list[Row]:
        b, a = self.base.stats, self.atelier.stats
        rows: list[Row] = [
            ("seconds per image (median)", num(b.seconds), num(a.seconds), ratio(a.seconds, b.seconds)),
            ("seconds per image (fastest run)", num(b.fastest), num(a.fastest), ratio(a.fastest, b.fastest)),
        ]
        if self.cfg.on_cpu:
            rows.append(("CPU seconds per image (median, process time)", num(b.cpu_seconds), num(a.cpu_seconds),
                         ratio(a.cpu_seconds, b.cpu_seconds)))
        rows.append(("denoising it/s (median, steps 2..N)", rate(b.loop_rate), rate(a.loop_rate),
                     ratio(inverse(a.loop_rate), inverse(b.loop_rate))))
        own = self.atelier.own_job_seconds()
        if own is not None:
            rows.append(("Atelier's own s/image around the pipeline call (cProfile)", "—", num(own, 4),
                         overhead(b.seconds + own, b.seconds)))
        if not self.cfg.on_cpu:
            rows.append(("peak GPU memory MiB (timed runs)", gpu_mib(b), gpu_mib(a), ""))
        return rows

    def load_rows(self) -> list[Row]:
        b, a, sw = self.base, self.atelier, self.switch
        rows: list[Row] = [
            ("checkpoint load s (from_single_file / first manager.checkpoint)", num(b.load.wall, 2),
             num(a.load.wall, 2), ratio(a.load.wall, b.load.wall)),
            ("  CPU user + sys s / million page faults", load_cpu(b.load), load_cpu(a.load), ""),
        ]
        own = a.own_load_seconds()
        if own is not None:
            label = "Atelier's own s in that load besides from_single_file + tokenizers (cProfile)"
            rows.append((label, "—", num(own, 4), ""))
        rows += [
            ("context start s (catalog scan + identify + sha256)", "—", num(a.context.wall, 2), ""),
            (f"switch A → B s (B: {self.ckpts.b_kind}, cold load)", "—", num(sw.to_b.wall, 2), ""),
            ("  CPU user + sys s / million page faults", "—", load_cpu(sw.to_b), ""),
            ("cached switch B → A s (cache hit, asserted)", "—", num(sw.back_to_a.wall, 4), ""),
        ]
        return rows

    def details(self) -> str:
        """The full Markdown table of this run."""
        rows = self.generation_rows() + self.load_rows()
        b, a = self.base.stats, self.atelier.stats
        return "\n".join([
            f"#### {self.date} — {self.title()}",
            "",
            "Machine: " + "; ".join(f"{k}: {v}" for k, v in self.machine.items()),
            "",
            "| measurement | diffusers | Atelier | Atelier time ÷ diffusers time |",
            "| --- | ---: | ---: | ---: |",
            *(f"| {' | '.join(r)} |" for r in rows),
            "",
            f"Same image: max pixel difference {self.pixel_diff}/255. Model cache budget "
            f"{self.switch.cache_budget_gb:g} GiB. Peak process RSS {self.peak_rss_gib:.1f} GiB. "
            f"Runs (wall s/img) diffusers {[round(r.timing.wall, 3) for r in b.runs]}, "
            f"Atelier {[round(r.timing.wall, 3) for r in a.runs]}.",
        ])

    def summary_row(self) -> str:
        """One row for the summary table of RESULTS.md (header: ``SUMMARY_HEADER``)."""
        b, a, c = self.base.stats, self.atelier.stats, self.cfg
        cpu_overhead = overhead(a.cpu_seconds, b.cpu_seconds) if c.on_cpu else "—"
        cells = [
            self.date, f"{c.kind} {c.size}", f"{c.width}×{c.height}", f"{c.device} {c.precision}", str(c.threads),
            str(c.steps), str(c.repeat), num(b.seconds), num(a.seconds), overhead(a.seconds, b.seconds),
            cpu_overhead, rate(b.loop_rate), rate(a.loop_rate), num(self.base.load.wall, 2),
            num(self.atelier.load.wall, 2), num(self.switch.back_to_a.wall, 4), str(self.pixel_diff),
        ]
        return "| " + " | ".join(cells) + " |"

    def as_json(self) -> dict[str, Any]:
        config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.cfg).items()}
        return {
            "date": self.date, "config": config, "machine": self.machine, "b_checkpoint": self.ckpts.b_kind,
            "diffusers": {"load": asdict(self.base.load), "runs": [asdict(r) for r in self.base.runs]},
            "atelier": {"load": asdict(self.atelier.load), "context": asdict(self.atelier.context),
                        "runs": [asdict(r) for r in self.atelier.runs], "switch": asdict(self.switch),
                        "own_job_s": self.atelier.own_job_seconds(), "own_load_s": self.atelier.own_load_seconds()},
            "pixel_diff": self.pixel_diff, "peak_rss_gib": self.peak_rss_gib,
        }


# -------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def workdir(cfg: BenchConfig) -> Iterator[Path]:
    """``--workdir`` (kept), else a temporary folder removed afterwards."""
    if cfg.workdir is not None:
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        yield cfg.workdir
        return
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        yield Path(tmp)


def run(cfg: BenchConfig) -> Report:
    """Prepare the checkpoints, then measure diffusers and Atelier (see ``--order``)."""
    torch.set_num_threads(cfg.threads)
    with workdir(cfg) as root:
        models_dir = root / "models"
        log(f"preparing checkpoints in {models_dir} ...")
        ckpts = prepare_checkpoints(cfg, models_dir)
        warn_if_short_of_memory(cfg, ckpts.a)
        log("untimed priming load ...")
        prime_memory(cfg, ckpts.a)
        base = DiffusersSystem(cfg, ckpts.a)
        atelier = AtelierSystem(cfg, models_dir, Path(tempfile.mkdtemp(prefix="data-", dir=root)))
        measure = measure_interleaved if cfg.order == "interleaved" else measure_sequential
        measure([base, atelier])
    return Report(cfg, machine(cfg), ckpts, base, atelier, peak_rss_gib())


def warn_if_short_of_memory(cfg: BenchConfig, checkpoint: Path) -> None:
    """A load holds the file's state dict and the built model at once, in host RAM."""
    needed = checkpoint.stat().st_size + resident_bytes(checkpoint, cfg)
    available = psutil.virtual_memory().available
    if needed > 0.9 * available:
        log(f"warning: a load needs ~{needed / GIB:.1f} GiB of host RAM, {available / GIB:.1f} GiB is available")


def prime_memory(cfg: BenchConfig, checkpoint: Path) -> None:
    """One untimed load, then free it, so that neither timed load is the process's first.

    The first time a process touches a model's worth of fresh memory it pays a page fault per
    4 KiB page; on a VM that can cost more than reading and converting the weights (measured
    here: the same SD1.5 load took 19 s first and 5-7 s after). Both timed loads then start
    from the same state.
    """
    load_diffusers(checkpoint, cfg)
    free_memory(cfg.torch_device)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    force_offline()
    quiet_libraries()
    cfg = parse_args(argv)
    report = run(cfg)
    print(report.details())
    print()
    print(Report.SUMMARY_HEADER)
    print(report.summary_row())
    if cfg.json_path is not None:
        cfg.json_path.write_text(json.dumps(report.as_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
