"""The generation engine: a typed request in, saved images with infotext out.

UI callbacks and API routes never generate; they build a request and call this. Jobs are
serialised by :class:`pipelines.jobs.JobQueue`; this module only runs one job.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from pipelines.diffusion import images as imgops
from pipelines.diffusion.alwayson import AlwaysOnRegistry, ImageInfo
from pipelines.diffusion.infotext import format_infotext, generation_params
from pipelines.diffusion.preview import latents_to_preview
from pipelines.diffusion.request import (
    HIRES_DEFAULT_DENOISING,
    GenerationRequest,
    Img2ImgRequest,
    ResizeMode,
    Txt2ImgRequest,
)
from pipelines.diffusion.fields import InpaintingFill
from pipelines.diffusion.result import FACE_RESTORATION, VERSION, GenerationResult
from pipelines.diffusion.cfgpp import DDIMCFGPPScheduler
from pipelines.diffusion.kscheduler import KDiffusionScheduler
from pipelines.diffusion.nans import has_nans, unet_nans, vae_nans
from pipelines.diffusion.ksampling import SamplerOptions
from pipelines.diffusion.samplers import (
    SAME_SAMPLER,
    SAME_SCHEDULER,
    make_scheduler,
    resolve_sampler,
    sampler_parameters,
)
from pipelines.diffusion.seeds import batch_noise, batch_seeds, resolve_seed, step_generators
from pipelines.extras.upscalers import UpscalerCatalog
from pipelines.faces.restoration import FaceRestoration
from pipelines.interrupts import StoppedInside, stop_inside
from pipelines.jobs import JobControl
from pipelines.limits import Limits
from pipelines.models.architecture import Architecture, ModelFamily
from pipelines.models.loader import LoadedCheckpoint
from pipelines.models.manager import ModelManager
from pipelines.networks.lora import NetworkManager
from pipelines.networks.embeddings import EmbeddingDatabase, ti_hashes
from pipelines.networks.tags import parse_prompt_networks, strip_extra_networks
from pipelines.prompts import PromptEncoder, build_schedule, single_prompt
from pipelines.prompts.validation import check_prompt
from pipelines.outputs import OutputWriter
from pipelines.styles import StyleDatabase

log = logging.getLogger(__name__)

LATENT_UPSCALE_MODES = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
# Latents (B, C, h, w) and the model's architecture → a live-preview image
Previewer = Callable[[torch.Tensor, Architecture], Image.Image]
PIXEL_UPSCALERS = {"None": None, "Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}


MIN_STRENGTH = 1e-3


def partial_schedule(run_steps: int, strength: float, max_steps: int = 1000) -> tuple[int, float]:
    """(schedule length, strength) for a diffusers img2img call that runs ``run_steps`` steps.

    diffusers runs ``int(length * strength)`` steps and fails on zero (``cannot reshape tensor
    of 0 elements``); A1111 always runs at least one. A strength near 0 would need a schedule
    longer than the model's training timesteps, so the length is capped and the strength
    raised just enough for the steps to fit.
    """
    strength = min(max(strength, MIN_STRENGTH), 1.0)
    length = max(run_steps, round(run_steps / strength))
    while int(length * strength) < run_steps and length < max_steps:
        length += 1
    length = min(length, max_steps)
    if int(length * strength) < 1:
        strength = min(1.0, (run_steps + 0.5) / length)
    return length, strength


def a1111_partial_steps(steps: int, strength: float, hires_steps: Optional[int] = None) -> tuple[int, int]:
    """(schedule length, steps run from its end) as A1111's ``setup_img2img_steps``: img2img runs
    ``int(strength · steps) + 1`` steps of a ``steps`` schedule; the hires pass runs exactly
    ``hires_steps`` steps of an ``hires_steps / strength`` schedule (one step at strength 0)."""
    strength = min(strength, 0.999)
    if hires_steps is None:
        return steps, min(steps, int(strength * steps) + 1)
    if strength <= 0:
        return hires_steps, 1
    return max(hires_steps, int(hires_steps / strength)), hires_steps


def schedule_steps(steps: int, strength: float) -> int:
    """The schedule length to give diffusers for img2img: it runs ``int(steps * strength)``
    steps and fails on zero, so a low strength gets a schedule long enough for one step."""
    return steps if int(steps * strength) >= 1 else math.ceil(1 / max(strength, MIN_STRENGTH))


class _Progress:
    """Bridges diffusers' per-step callback to a :class:`JobControl` (progress, previews, stop)."""

    def __init__(self, control: JobControl, batch: int, arch: Architecture,
                 previewer: Previewer = latents_to_preview) -> None:
        self.control, self.batch, self.arch, self.offset = control, batch, arch, 0
        self.previewer = previewer
        self.cleanups: list[Callable[[], None]] = []  # UNet hooks a scheduler set for this batch
        self.warnings: list[str] = []  # what this batch recovered from (a VAE decoded again in float32)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        done = self.offset + step + 1
        latents = kwargs.get("latents")
        if latents is not None and has_nans(latents):  # A1111's test_for_nans(x, "unet"), every step
            raise unet_nans(done, latents.dtype if latents.dtype != torch.float32 else pipe.unet.dtype)
        preview = None
        if latents is not None and latents.shape[1] >= 4 and self.control.wants_preview(done):
            preview = self.previewer(latents, self.arch)
        self.control.step(done, batch=self.batch, preview=preview)
        # DPM adaptive's loop is sized for a budget: stop once the sampler has finished
        if self.control.should_stop() or getattr(pipe.scheduler, "finished", False):
            pipe._interrupt = True
        return kwargs


@dataclass
class _Texts:
    """What one job encodes: prompt part, its CFG weight, negative, and the encoders it used."""

    prompt: str
    negative: str
    weight: float
    encoder_for: Callable[[LoadedCheckpoint], PromptEncoder]
    used: dict[str, PromptEncoder] = field(default_factory=dict)

    def encoder(self, loaded: LoadedCheckpoint) -> PromptEncoder:
        key = str(loaded.info.path)
        if key not in self.used:
            encoder = self.encoder_for(loaded)
            encoder.reset_usage()
            self.used[key] = encoder
        return self.used[key]

    def ti_hashes(self) -> Optional[str]:
        return ti_hashes([e for enc in self.used.values() for e in enc.used_embeddings])


def _vae_networks(loaded: LoadedCheckpoint) -> tuple[Any, Any]:
    """The VAE's decoder and encoder: the long calls an interrupt must reach inside."""
    vae = loaded.components.get("vae")
    return getattr(vae, "decoder", None), getattr(vae, "encoder", None)


def _source_images(req: GenerationRequest) -> list[Image.Image]:
    """The pictures an output was made from (init images, mask): hashed into its provenance."""
    if not isinstance(req, Img2ImgRequest):
        return []
    return [*req.init_images, *([req.mask] if req.mask is not None else [])]


@dataclass(frozen=True)
class SamplerSettings:
    """A1111's sampler options a request does not carry: eta defaults and ENSD."""

    eta_ancestral: float = 1.0
    eta_ddim: float = 0.0
    eta_noise_seed_delta: int = 0


def sampler_options(req: GenerationRequest, settings: SamplerSettings) -> SamplerOptions:
    """The k-diffusion parameters of ``req`` (its eta, else the eta_ancestral setting; s_tmax 0: none)."""
    return SamplerOptions(eta=settings.eta_ancestral if req.eta is None else req.eta, s_churn=req.s_churn,
                          s_tmin=req.s_tmin, s_tmax=req.s_tmax or math.inf, s_noise=req.s_noise)


def sampler_infotext(req: GenerationRequest, settings: SamplerSettings) -> dict[str, object]:
    """What A1111 writes for the sampler's parameters: "Eta" (k-diffusion, when not 1) or
    "Eta DDIM" (when not 0), "Sigma churn/tmin/tmax/noise" when changed, "ENSD", "RNG"."""
    spec, _ = resolve_sampler(req.sampler_name, req.scheduler)
    taken = sampler_parameters(spec)
    params: dict[str, object] = {}
    if "eta" in taken:
        if spec.kfunction is None:
            eta = settings.eta_ddim if req.eta is None else req.eta
            if eta != 0:
                params["Eta DDIM"] = eta
        else:
            eta = settings.eta_ancestral if req.eta is None else req.eta
            if eta != 1.0:
                params["Eta"] = eta
    for key, label, default in (("s_churn", "Sigma churn", 0.0), ("s_tmin", "Sigma tmin", 0.0),
                                ("s_tmax", "Sigma tmax", 0.0), ("s_noise", "Sigma noise", 1.0)):
        if key in taken and getattr(req, key) != default:
            params[label] = getattr(req, key)
    if settings.eta_noise_seed_delta and spec.stochastic:
        params["ENSD"] = settings.eta_noise_seed_delta
    params["RNG"] = "CPU"  # noise is drawn on the CPU from torch generators: A1111's randn_source "CPU"
    if req.tiling:
        params["Tiling"] = True
    return params


@contextmanager
def circular_padding(*modules: Any) -> Iterator[None]:
    """A1111's tiling: every Conv2d of ``modules`` pads circularly, so the image tiles seamlessly."""
    convs = [m for module in modules if module is not None for m in module.modules()
             if isinstance(m, torch.nn.Conv2d)]
    before = [m.padding_mode for m in convs]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convs, before):
            conv.padding_mode = mode


def _vae_decode(vae: Any, latents: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Decode with the VAE's weights in ``dtype`` for this call only."""
    original = vae.dtype
    if dtype != original:
        vae.to(dtype)
    try:
        with torch.no_grad():
            return vae.decode(latents.to(dtype) / vae.config.scaling_factor).sample
    finally:
        if dtype != original:
            vae.to(original)


class GenerationEngine:
    """Runs txt2img / img2img / inpaint requests on the manager's current checkpoint."""

    def __init__(self, manager: ModelManager, writer: OutputWriter, networks: Optional[NetworkManager] = None,
                 styles: Optional[StyleDatabase] = None, embeddings: Optional[EmbeddingDatabase] = None,
                 upscalers: Optional[UpscalerCatalog] = None, alwayson: Optional[AlwaysOnRegistry] = None,
                 previewer: Optional[Callable[[], Previewer]] = None,
                 face_restoration: Optional[FaceRestoration] = None,
                 limits: Optional[Callable[[], Limits]] = None,
                 auto_vae_precision: Optional[Callable[[], bool]] = None,
                 sampler_settings: Optional[Callable[[], "SamplerSettings"]] = None) -> None:
        """``previewer`` answers the live-preview function to use now (the show_progress_type
        setting may pick TAESD); ``face_restoration`` serves ``restore_faces`` (none: a warning);
        ``limits`` the resource limits in force now (the ``limit_*`` settings; default: theirs);
        ``auto_vae_precision`` whether a half-precision VAE decode with NaNs is redone in float32
        (A1111's setting of that name; default on); ``sampler_settings`` the eta / ENSD settings."""
        self.manager = manager
        self.alwayson = alwayson if alwayson is not None else AlwaysOnRegistry()
        self.upscalers = upscalers
        self.writer = writer
        self.networks = networks
        self.styles = styles
        self.embeddings = embeddings
        self._previewer = previewer or (lambda: latents_to_preview)
        self._limits = limits or Limits
        self._auto_vae_precision = auto_vae_precision or (lambda: True)
        self._sampler_settings = sampler_settings or SamplerSettings
        self.face_restoration = face_restoration
        self._encoders: dict[str, tuple[tuple, PromptEncoder]] = {}

    @property
    def previewer(self) -> Previewer:
        """The live-preview function for the next step."""
        return self._previewer()

    @property
    def auto_vae_precision(self) -> bool:
        return self._auto_vae_precision()

    @property
    def limits(self) -> Limits:
        """What one request may ask for (the settings as they are now)."""
        return self._limits()

    def pixel_upscalers(self) -> list[str]:
        """Pixel upscaler names in A1111's ``sd_upscalers`` order: None, Lanczos, Nearest, files."""
        return [i.name for i in self.upscalers.usable] if self.upscalers is not None else list(PIXEL_UPSCALERS)

    def hires_upscalers(self) -> list[str]:
        """Names ``hr_upscaler`` accepts: latent modes, then pixel upscalers (ESRGAN files too)."""
        return [*LATENT_UPSCALE_MODES, *self.pixel_upscalers()]

    def pixel_upscale(self, image: Image.Image, name: str, width: int, height: int,
                      control: Optional[JobControl] = None) -> Image.Image:
        """``image`` at exactly ``width`` × ``height`` through pixel upscaler ``name`` ("None":
        plain Lanczos, as A1111's hires fix); a model upscaler stops inside on ``control``'s interrupt."""
        if self.upscalers is not None and name != "None":
            image = self.upscalers.upscale(image, name, max(width / image.width, height / image.height), control)
        if image.size == (width, height):
            return image
        resample = PIXEL_UPSCALERS.get(name) or Image.Resampling.LANCZOS
        return image.resize((width, height), resample)

    def prompt_encoder(self, loaded: LoadedCheckpoint) -> PromptEncoder:
        """The checkpoint's prompt encoder, kept across jobs so unchanged texts (an X/Y/Z grid's
        cells, a repeated prompt) are not encoded again; replaced when the text encoder's
        weights (LoRA set) or the embeddings change."""
        state = (
            id(loaded.components.get("text_encoder") or loaded.components.get("text_encoder_2")),
            self.networks.signature(loaded) if self.networks is not None else (),
            self.embeddings.revision if self.embeddings is not None else 0,
        )
        key = str(loaded.info.path)
        cached = self._encoders.get(key)
        if cached is None or cached[0] != state:
            cached = (state, PromptEncoder.from_checkpoint(loaded, embeddings=self.embeddings))
            self._encoders[key] = cached
        return cached[1]

    def prepare_prompts(self, loaded: LoadedCheckpoint, req: GenerationRequest
                        ) -> tuple[GenerationRequest, GenerationRequest, list[str]]:
        """Apply styles and the prompt's LoRA tags to ``loaded``.

        Returns (request as recorded: styled prompt with its tags and Lora hashes; request as
        encoded: tags removed; warnings). Every generation must pass here, since adapters stay
        on a cached model until the next apply.
        """
        prompt, negative = req.prompt, req.negative_prompt
        warnings: list[str] = []
        if self.styles is not None and req.styles:
            missing = self.styles.missing(req.styles)
            if missing:
                warnings.append("unknown styles: " + ", ".join(missing))
            prompt, negative = self.styles.apply(prompt, negative, req.styles)
        parsed = parse_prompt_networks(prompt)
        warnings += parsed.warnings
        if self.embeddings is not None:
            warnings += self.embeddings.unusable_in(f"{parsed.prompt} {negative}")
        extra = dict(req.extra)
        if self.networks is not None:
            warnings += self.networks.apply(loaded, parsed.requests)
            hashes = self.networks.lora_hashes(parsed.requests, loaded)
            if hashes:
                extra["Lora hashes"] = hashes
        recorded = req.model_copy(update={"prompt": prompt, "negative_prompt": negative, "extra": extra})
        return recorded, recorded.model_copy(update={"prompt": parsed.prompt}), warnings

    # -- public entry points ------------------------------------------------------------
    def admit(self, request: GenerationRequest) -> None:
        """Refuse ``request`` (``ValueError``, a 422 / a notice) if it exceeds a limit or its
        prompts are not valid text: callers check before queueing, and every run checks again."""
        self.limits.check_generation(request)
        check_prompt("prompt", request.prompt)
        check_prompt("negative_prompt", request.negative_prompt)

    def txt2img(self, request: Txt2ImgRequest, control: Optional[JobControl] = None) -> GenerationResult:
        return self._run(request, control or JobControl(), "txt2img")

    def img2img(self, request: Img2ImgRequest, control: Optional[JobControl] = None) -> GenerationResult:
        return self._run(request, control or JobControl(), "img2img")

    def generate(self, request: GenerationRequest, control: Optional[JobControl] = None) -> GenerationResult:
        """txt2img or img2img, whichever ``request`` is (callers that hold either kind)."""
        if isinstance(request, Img2ImgRequest):
            return self.img2img(request, control)
        return self.txt2img(request, control)  # type: ignore[arg-type]

    # -- the job ---------------------------------------------------------------------------
    def _run(self, req: GenerationRequest, control: JobControl, kind: str) -> GenerationResult:
        started = time.perf_counter()
        self.admit(req)
        resolve_sampler(req.sampler_name, req.scheduler)  # fail fast, before loading anything
        if isinstance(req, Txt2ImgRequest) and req.enable_hr:
            resolve_sampler(*self._hires_sampler(req))
        req = req.model_copy(update={"extra": {**sampler_infotext(req, self._sampler_settings()), **req.extra}})
        req = self.alwayson.before_generation(req)
        loaded = self.manager.checkpoint(req.checkpoint)
        info = loaded.info
        req, encoded, warnings = self.prepare_prompts(loaded, req)
        req = self._choose_face_restorer(req, warnings)
        part = single_prompt(strip_extra_networks(encoded.prompt))  # AND → clear ValueError
        texts = _Texts(part.text, strip_extra_networks(encoded.negative_prompt), part.weight, self.prompt_encoder)
        result = GenerationResult(
            request=req, model_name=info.stem, model_hash=info.shorthash,
            vae_name=loaded.vae.name if loaded.vae else None, warnings=warnings,
        )
        seed, subseed = resolve_seed(req.seed), resolve_seed(req.subseed)
        total = req.batch_size * req.n_iter
        # A1111: with a variation strength the seed stays fixed and only the subseed advances
        all_seeds = [seed] * total if req.subseed_strength > 0 else batch_seeds(seed, total)
        all_subseeds = batch_seeds(subseed, total)
        steps_per_batch = self.steps_per_batch(req)
        control.start(steps_per_batch, req.n_iter, textinfo=f"{kind} {req.width}x{req.height}")
        for batch in range(req.n_iter):
            if control.interrupted.is_set():
                result.interrupted = True
                break
            control.skipped.clear()
            seeds = all_seeds[batch * req.batch_size:(batch + 1) * req.batch_size]
            subseeds = all_subseeds[batch * req.batch_size:(batch + 1) * req.batch_size]
            self.alwayson.before_batch(req, batch, seeds, result.warnings)
            progress = _Progress(control, batch, loaded.architecture, self.previewer)
            try:
                tiling = circular_padding(loaded.components.get("unet"), loaded.components.get("vae")) \
                    if req.tiling else nullcontext()
                with stop_inside(control, *_vae_networks(loaded)), tiling:
                    if isinstance(encoded, Img2ImgRequest):
                        images = self._img2img_batch(loaded, encoded, seeds, progress, texts)
                    else:
                        images = self._txt2img_batch(loaded, encoded, seeds, subseeds, progress, texts)
            except StoppedInside:  # interrupted inside a decode / upscale: this batch has no image
                result.interrupted = True
                break
            finally:
                progress.close()
                result.warnings += [w for w in progress.warnings if w not in result.warnings]
            hashes = texts.ti_hashes()
            if hashes and req.extra.get("TI hashes") != hashes:
                req = req.model_copy(update={"extra": {**req.extra, "TI hashes": hashes}})
                result.request = req
            for image, s, sub in zip(images, seeds, subseeds):
                self._collect(result, loaded, req, kind, image, s, sub)
        result.interrupted = result.interrupted or control.interrupted.is_set()
        self.alwayson.after_generation(result)
        result.seconds = time.perf_counter() - started
        return result

    @staticmethod
    def steps_per_batch(req: GenerationRequest) -> int:
        """Sampling steps one batch of ``req`` reports (img2img strength and hires included)."""
        if isinstance(req, Img2ImgRequest):
            return max(1, int(req.steps * (req.denoising_strength or 0.0)))
        if req.enable_hr:
            return req.steps + (req.hr_second_pass_steps or req.steps)
        return req.steps

    def _choose_face_restorer(self, req: GenerationRequest, warnings: list[str]) -> GenerationRequest:
        """``restore_faces``: record the restorer in the infotext (A1111's "Face restoration"), or
        warn that there is none; the images are restored one by one in :meth:`_collect`."""
        if not req.restore_faces:
            return req
        model = self.face_restoration.model() if self.face_restoration is not None else None
        if model is None:
            warnings.append(self.face_restoration.unavailable("restore_faces") if self.face_restoration is not None
                            else "restore_faces: face restoration is not set up; the images are not restored")
            return req
        return req.model_copy(update={"extra": {**req.extra, FACE_RESTORATION: model}})

    def _restore_faces(self, req: GenerationRequest, image: Image.Image, warnings: list[str]) -> Image.Image:
        model = req.extra.get(FACE_RESTORATION) if req.restore_faces else None
        if model is None or self.face_restoration is None:
            return image
        try:
            return self.face_restoration.restore(image, model)
        except Exception as exc:  # noqa: BLE001 - keep the generated image, report the restorer
            log.exception("face restoration with %s failed", model)
            text = f"restore_faces: {exc or type(exc).__name__}"
            if text not in warnings:
                warnings.append(text)
            return image

    def _collect(self, result: GenerationResult, loaded: LoadedCheckpoint, req: GenerationRequest, kind: str,
                 image: Image.Image, seed: int, subseed: int) -> None:
        image = self._restore_faces(req, image, result.warnings)
        image = self.alwayson.postprocess_image(image, ImageInfo(kind, req, seed, len(result.images)), result.warnings)
        info = loaded.info
        params = generation_params(
            req, seed=seed, subseed=subseed, model_name=info.stem, model_hash=info.shorthash,
            vae_name=loaded.vae.name if loaded.vae else None, vae_hash=None, version=VERSION,
            extra=req.extra,
        )
        stamped = self.writer.stamp(image, kind, format_infotext(req.prompt, req.negative_prompt, params),
                                    _source_images(req))
        result.images.append(stamped.image)
        result.seeds.append(seed)
        result.subseeds.append(subseed)
        result.infotexts.append(stamped.infotext)
        if req.save_images:
            result.paths.append(self.writer.save_stamped(stamped, kind, seed=seed, prompt=req.prompt))

    # -- pipeline calls --------------------------------------------------------------------
    def _common_kwargs(self, loaded: LoadedCheckpoint, req: GenerationRequest, seeds: Sequence[int],
                       progress: _Progress, pipe: Any, texts: _Texts, *, hires_steps: Optional[int] = None,
                       step_offset: int = 0) -> dict[str, Any]:
        """Scheduler, conditioning (A1111 prompt syntax, swapped per step for prompt editing),
        CFG, per-image generators and the progress callback for one pipeline call."""
        spec, _ = resolve_sampler(req.sampler_name, req.scheduler)
        settings = self._sampler_settings()
        pipe.scheduler = make_scheduler(req.sampler_name, req.scheduler, loaded.scheduler_config,
                                        is_sdxl=loaded.architecture.is_xl, options=sampler_options(req, settings))
        if isinstance(pipe.scheduler, DDIMCFGPPScheduler):
            pipe.scheduler.cfg_scale = req.cfg_scale * texts.weight
            progress.cleanups.append(pipe.scheduler.watch(pipe.unet))
        count = len(seeds)
        # A1111's prompt schedule counts model calls: second-order samplers make two per step.
        schedule_steps = req.steps * (2 if spec.a1111_options.get("second_order") else 1)
        schedule = build_schedule(texts.encoder(loaded), [texts.prompt] * count, [texts.negative] * count,
                                  schedule_steps, clip_skip=req.clip_skip, hires_steps=hires_steps)
        return dict(
            **schedule.pipeline_kwargs(step_offset),
            num_inference_steps=req.steps,
            guidance_scale=req.cfg_scale * texts.weight,
            generator=step_generators(seeds, settings.eta_noise_seed_delta),
            **({"eta": settings.eta_ddim if req.eta is None else req.eta} if spec.name == "DDIM" else {}),
            callback_on_step_end=schedule.callback(progress, step_offset),
            callback_on_step_end_tensor_inputs=schedule.tensor_inputs,
        )

    def _txt2img_batch(self, loaded: LoadedCheckpoint, req: GenerationRequest, seeds: Sequence[int],
                       subseeds: Sequence[int], progress: _Progress, texts: _Texts) -> list[Image.Image]:
        arch = loaded.architecture
        self._refuse_refiner(loaded, "txt2img")
        if arch.inpaint:
            # An inpainting checkpoint does txt2img as inpaint with everything masked (A1111).
            blank = Image.new("RGB", (req.width, req.height), (127, 127, 127))
            full = Image.new("L", (req.width, req.height), 255)
            pipe = loaded.pipeline("inpaint")
            kwargs = self._common_kwargs(loaded, req, seeds, progress, pipe, texts)
            kwargs["latents"] = self._noise(loaded, req, seeds, subseeds)
            return self._decoded(loaded, pipe, progress, image=blank, mask_image=full, strength=1.0,
                                 width=req.width, height=req.height, **kwargs)
        pipe = loaded.pipeline("txt2img")
        kwargs = self._common_kwargs(loaded, req, seeds, progress, pipe, texts)
        kwargs["latents"] = self._noise(loaded, req, seeds, subseeds)
        if not req.enable_hr:
            return self._first_pass(loaded, req, seeds, progress, pipe, kwargs, "pil", texts)
        return self._hires(loaded, req, seeds, progress, pipe, kwargs, texts)

    def _first_pass(self, loaded: LoadedCheckpoint, req: GenerationRequest, seeds: Sequence[int],
                    progress: _Progress, pipe: Any, kwargs: dict[str, Any], output_type: str,
                    texts: _Texts) -> Any:
        """The txt2img pass; with a refiner, the base stops at ``refiner_switch_at`` and the
        refiner finishes the same schedule (SDXL's ensemble-of-experts handoff)."""
        if not (req.refiner_checkpoint and req.refiner_switch_at):
            if output_type == "latent":
                return pipe(width=req.width, height=req.height, output_type="latent", **kwargs).images
            return self._decoded(loaded, pipe, progress, width=req.width, height=req.height, **kwargs)
        refiner = self.manager.peek(req.refiner_checkpoint)
        if self.networks is not None:
            self.networks.clear(refiner)  # LoRAs target the base model only
        if not (loaded.architecture.is_xl and refiner.architecture.is_xl):
            raise ValueError(
                f"the refiner needs SDXL checkpoints: base is {loaded.architecture.label}, "
                f"refiner {refiner.info.name} is {refiner.architecture.label}"
            )
        switch = req.refiner_switch_at
        base = pipe(width=req.width, height=req.height, denoising_end=switch, output_type="latent", **kwargs)
        if progress.control.interrupted.is_set():
            return self._decode(loaded, base.images, progress) if output_type == "pil" else base.images
        refine = refiner.pipeline("img2img")
        base_steps = round(req.steps * switch)
        second = self._common_kwargs(refiner, req, seeds, progress, refine, texts, step_offset=base_steps)
        progress.offset = base_steps
        if output_type == "latent":
            return refine(image=base.images, denoising_start=switch, output_type="latent", **second).images
        with stop_inside(progress.control, *_vae_networks(refiner)):  # the refiner decodes with its own VAE
            return self._decoded(refiner, refine, progress, image=base.images, denoising_start=switch, **second)

    @staticmethod
    def _refuse_refiner(loaded: LoadedCheckpoint, what: str) -> None:
        if loaded.architecture.family is ModelFamily.SDXL_REFINER:
            raise ValueError(
                f"{loaded.info.name} is an SDXL refiner: it cannot do {what} on its own. Select an SDXL base "
                "checkpoint and choose this one as the refiner, or use it for img2img without a mask."
            )

    def _noise(self, loaded: LoadedCheckpoint, req: GenerationRequest, seeds: Sequence[int],
               subseeds: Sequence[int]) -> torch.Tensor:
        channels = loaded.components["vae"].config.latent_channels
        shape = (channels, req.height // 8, req.width // 8)
        resize_from = None
        if req.seed_resize_from_h > 0 and req.seed_resize_from_w > 0:
            resize_from = (req.seed_resize_from_h // 8, req.seed_resize_from_w // 8)
        noise = batch_noise(shape, seeds, subseeds, req.subseed_strength, resize_from)
        return noise.to(self.manager.policy.device, self.manager.policy.dtype)

    def _hires(self, loaded: LoadedCheckpoint, req: GenerationRequest, seeds: Sequence[int],
               progress: _Progress, pipe: Any, kwargs: dict[str, Any], texts: _Texts) -> list[Image.Image]:
        """A1111's hires fix: first pass, upscale (latent or pixel), then an img2img pass."""
        width, height = req.hires_size()
        latent_mode = LATENT_UPSCALE_MODES.get(req.hr_upscaler)
        choices = self.hires_upscalers()
        if req.hr_upscaler not in choices:
            raise ValueError(f"unknown hires upscaler {req.hr_upscaler!r}; available: {', '.join(choices)}")
        first = self._first_pass(loaded, req, seeds, progress, pipe, kwargs, "latent" if latent_mode else "pil",
                                 texts)
        if progress.control.interrupted.is_set():
            return self._decode(loaded, first, progress) if latent_mode else first
        if latent_mode:
            mode, antialias = latent_mode
            upscaled = F.interpolate(first, size=(height // 8, width // 8), mode=mode,
                                     antialias=antialias if mode in ("bilinear", "bicubic") else False)
            second_input: Any = upscaled
        else:
            second_input = [self.pixel_upscale(im, req.hr_upscaler, width, height, progress.control) for im in first]
        img2img = loaded.pipeline("img2img")
        hires_steps = req.hr_second_pass_steps or req.steps
        sampler, scheduler = self._hires_sampler(req)
        hires_req = req.model_copy(update={"sampler_name": sampler, "scheduler": scheduler,
                                           "cfg_scale": req.cfg_scale if req.hr_cfg is None else req.hr_cfg})
        if req.hr_prompt or req.hr_negative_prompt:  # A1111's Hires prompt: the second pass's own texts
            part = single_prompt(strip_extra_networks(req.hr_prompt or texts.prompt))
            texts = _Texts(part.text, strip_extra_networks(req.hr_negative_prompt) or texts.negative, part.weight,
                           self.prompt_encoder)
        second = self._common_kwargs(loaded, hires_req, seeds, progress, img2img, texts, hires_steps=hires_steps)
        strength = req.denoising_strength if req.denoising_strength is not None else HIRES_DEFAULT_DENOISING
        strength = self._partial_steps(img2img, second, strength, steps=req.steps, hires_steps=hires_steps)
        progress.offset = req.steps
        return self._decoded(loaded, img2img, progress, image=second_input, strength=strength, **second)

    @staticmethod
    def _hires_sampler(req: GenerationRequest) -> tuple[str, str]:
        """(sampler, schedule type) of the hires pass: hr_sampler_name / hr_scheduler, else the
        first pass's (A1111's "Use same sampler" / "Use same scheduler")."""
        sampler = req.hr_sampler_name if req.hr_sampler_name not in (None, "", SAME_SAMPLER) else req.sampler_name
        scheduler = req.hr_scheduler if req.hr_scheduler not in (None, "", SAME_SCHEDULER) else req.scheduler
        return sampler, scheduler

    @staticmethod
    def _partial_steps(pipe: Any, kwargs: dict[str, Any], strength: float, *, steps: int,
                       hires_steps: Optional[int] = None) -> float:
        """Set ``num_inference_steps`` for a pass that starts from a partly noised image (img2img,
        inpaint, hires fix) so it runs the steps A1111 runs; returns the strength to pass."""
        scheduler = pipe.scheduler
        if isinstance(scheduler, KDiffusionScheduler):
            total, run = a1111_partial_steps(steps, strength, hires_steps)
            kwargs["num_inference_steps"], strength = scheduler.pipeline_steps(scheduler.plan(total, run), strength)
            return strength
        if hires_steps is None:
            kwargs["num_inference_steps"] = schedule_steps(steps, strength)
            return strength
        kwargs["num_inference_steps"], strength = partial_schedule(hires_steps, strength)
        return strength

    def _decoded(self, loaded: LoadedCheckpoint, pipe: Any, progress: _Progress, **kwargs: Any) -> list[Image.Image]:
        """Run ``pipe`` to latents and decode them here, where NaNs are checked (:meth:`_decode`)."""
        return self._decode(loaded, pipe(output_type="latent", **kwargs).images, progress)

    def _decode(self, loaded: LoadedCheckpoint, latents: torch.Tensor,
                progress: Optional[_Progress] = None) -> list[Image.Image]:
        """Latents → images through the checkpoint's VAE. NaNs in the latents fail the job (the
        UNet made them); NaNs from a half-precision decode are decoded again in float32 when the
        ``auto_vae_precision`` setting is on (A1111's automatic --no-half-vae), else fail it."""
        if has_nans(latents):
            raise unet_nans(progress.control.progress.step if progress else 0, latents.dtype)
        pipe = loaded.pipeline("txt2img")
        vae = loaded.components["vae"]
        dtype = vae.dtype
        upcast = dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))  # SDXL's VAE
        decoded = _vae_decode(vae, latents, torch.float32 if upcast else dtype)
        if has_nans(decoded):
            if dtype == torch.float32 or upcast or not self.auto_vae_precision:
                raise vae_nans(torch.float32 if upcast else dtype, retried=False)
            decoded = _vae_decode(vae, latents, torch.float32)
            if has_nans(decoded):
                raise vae_nans(dtype, retried=True)
            note = (f"the VAE produced NaNs in {str(dtype).removeprefix('torch.')}; the images were decoded again "
                    "in float32 (auto_vae_precision)")
            if progress is not None and note not in progress.warnings:
                progress.warnings.append(note)
        return pipe.image_processor.postprocess(decoded.float(), output_type="pil")

    def _img2img_batch(self, loaded: LoadedCheckpoint, req: Img2ImgRequest, seeds: Sequence[int],
                       progress: _Progress, texts: _Texts) -> list[Image.Image]:
        count = len(seeds)
        sources = [req.init_images[i % len(req.init_images)] for i in range(count)]
        init = [imgops.resize_image(im, req.width, req.height, req.resize_mode) for im in sources]
        strength = max(req.denoising_strength if req.denoising_strength is not None else 0.75, MIN_STRENGTH)
        if req.mask is None and not loaded.architecture.inpaint:
            pipe = loaded.pipeline("img2img")
            kwargs = self._common_kwargs(loaded, req, seeds, progress, pipe, texts)
            strength = self._partial_steps(pipe, kwargs, strength, steps=req.steps)
            image_input: Any = init
            if req.resize_mode is ResizeMode.LATENT_UPSCALE:
                image_input = self._latent_resize(loaded, sources, req.width, req.height)
            return self._decoded(loaded, pipe, progress, image=image_input, strength=strength, **kwargs)
        return self._inpaint_batch(loaded, req, init, seeds, progress, strength, texts)

    def _latent_resize(self, loaded: LoadedCheckpoint, sources: Sequence[Image.Image], width: int,
                       height: int) -> torch.Tensor:
        """A1111's "Just resize (latent upscale)": encode at source size, resize the latents."""
        pipe = loaded.pipeline("img2img")
        vae = loaded.components["vae"]
        latents = []
        for image in sources:
            w, h = max(64, image.width // 8 * 8), max(64, image.height // 8 * 8)
            tensor = pipe.image_processor.preprocess(image.convert("RGB"), height=h, width=w)
            with torch.no_grad():
                lat = vae.encode(tensor.to(vae.device, vae.dtype)).latent_dist.mode() * vae.config.scaling_factor
            latents.append(F.interpolate(lat, size=(height // 8, width // 8), mode="bilinear"))
        return torch.cat(latents)

    def _inpaint_batch(self, loaded: LoadedCheckpoint, req: Img2ImgRequest, init: list[Image.Image],
                       seeds: Sequence[int], progress: _Progress, strength: float,
                       texts: _Texts) -> list[Image.Image]:
        """Inpaint with the (blurred) mask, then paste onto the original outside the mask."""
        self._refuse_refiner(loaded, "inpainting")
        if req.mask is not None:
            mask = imgops.prepare_mask(req.mask, req.width, req.height, req.resize_mode,
                                       bool(req.inpainting_mask_invert), req.mask_blur)
        else:
            mask = Image.new("L", (req.width, req.height), 255)
        if req.inpainting_fill is InpaintingFill.FILL:
            work = [imgops.fill_masked(im, mask) for im in init]
        else:
            work = init
        if req.inpainting_fill in (InpaintingFill.LATENT_NOISE, InpaintingFill.LATENT_NOTHING):
            strength = 1.0 if req.inpainting_fill is InpaintingFill.LATENT_NOISE else strength
            if req.inpainting_fill is InpaintingFill.LATENT_NOTHING:
                work = [Image.composite(Image.new("RGB", im.size, (127, 127, 127)), im, mask.point(lambda v: 255 if v > 127 else 0)) for im in init]
        box = None
        gen_mask = mask
        if req.inpaint_full_res and req.mask is not None:
            work, gen_mask, box = imgops.crop_for_inpaint(work, mask, req.inpaint_full_res_padding,
                                                          req.width, req.height)
        pipe = loaded.pipeline("inpaint")
        kwargs = self._common_kwargs(loaded, req, seeds, progress, pipe, texts)
        strength = self._partial_steps(pipe, kwargs, strength, steps=req.steps)
        out = self._decoded(loaded, pipe, progress, image=work, mask_image=gen_mask, strength=strength,
                            width=req.width, height=req.height, **kwargs)
        return [imgops.paste_back(orig, imgops.uncrop(orig, gen, box), mask) for orig, gen in zip(init, out)]
