"""A diffusers-compatible scheduler that runs any A1111 k-diffusion sampler on any schedule.

diffusers pipelines loop over ``scheduler.timesteps``, calling the UNet once per entry and
``scheduler.step`` after it. Here every entry is one model call of the sampler (a second-order
sampler makes two per step, as diffusers' Heun does): the sigmas come from the schedule type
(:mod:`pipelines.diffusion.sigmas`), the sampler (:mod:`pipelines.diffusion.ksampling`) consumes
them, so "Euler a" + "Karras" or "LMS" + "Align Your Steps" work as in A1111.

Partial schedules (img2img, hires fix) follow A1111's ``sample_img2img``: :meth:`plan` picks
the tail of a longer schedule; the engine then asks the pipeline for a ``num_inference_steps``
and ``strength`` whose slicing keeps exactly that tail (:meth:`pipeline_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from diffusers.configuration_utils import FrozenDict
from diffusers.schedulers.scheduling_utils import SchedulerOutput

from pipelines.diffusion.ksampling import ADAPTIVE, SAMPLER_FUNCTIONS, SamplerOptions, evaluation_sigmas
from pipelines.diffusion.sigmas import ModelSigmas, schedule_sigmas

# Model calls DPM adaptive may make: its loop is sized for this and cut short when it is done
ADAPTIVE_BUDGET = 1000
Generators = Union[torch.Generator, Sequence[torch.Generator], None]


@dataclass(frozen=True)
class KSamplerSetup:
    """What one sampler run needs besides the model: algorithm, schedule and its options."""

    function: str  # a key of ksampling.SAMPLER_FUNCTIONS
    schedule: str  # an A1111 internal schedule name ("karras"); "automatic" is resolved before
    discard_penultimate: bool = False
    is_sdxl: bool = False
    options: SamplerOptions = SamplerOptions()


class KDiffusionScheduler:
    """Drives a k-diffusion sampler generator from a diffusers denoising loop."""

    order = 1

    def __init__(self, setup: KSamplerSetup, base_config: Mapping[str, Any]) -> None:
        self.setup = setup
        self.model = ModelSigmas.from_config(base_config)
        self.config = FrozenDict({**base_config, "_class_name": type(self).__name__,
                                  "prediction_type": base_config.get("prediction_type", "epsilon"),
                                  "num_train_timesteps": base_config.get("num_train_timesteps", 1000)})
        self._tail: Optional[tuple[int, int]] = None  # (schedule steps, steps run from its end)
        self.sigmas = torch.zeros(1)
        self.timesteps = torch.zeros(0)
        self._levels: list[float] = []
        self._run: Any = None
        self._pending: tuple[torch.Tensor, float] = (torch.zeros(0), 0.0)
        self._index = self._padding = 0
        self.finished = False

    # -- planning --------------------------------------------------------------------------
    def plan(self, total_steps: int, run_steps: int) -> int:
        """Run only the last ``run_steps`` steps of a ``total_steps`` schedule (img2img, hires);
        returns the number of model calls that takes (what the pipeline's loop must hold)."""
        self._tail = (max(1, total_steps), max(1, min(run_steps, total_steps)))
        return len(self._eval_levels(self._sigmas_for(total_steps)))

    def _sigmas_for(self, steps: int) -> torch.Tensor:
        setup = self.setup
        sigmas = schedule_sigmas(setup.schedule, steps, self.model, is_sdxl=setup.is_sdxl,
                                 discard_penultimate=setup.discard_penultimate)
        if self._tail is not None:
            total, run = self._tail
            sigmas = sigmas[len(sigmas) - 1 - run:]  # A1111: sigmas[steps - t_enc - 1:]
        return sigmas

    def _eval_levels(self, sigmas: torch.Tensor) -> list[float]:
        if self.setup.function in ADAPTIVE:
            return [float(sigmas[0])] * ADAPTIVE_BUDGET
        return evaluation_sigmas(self.setup.function, sigmas, self.setup.options)

    @staticmethod
    def pipeline_steps(calls: int, strength: float) -> tuple[int, float]:
        """(num_inference_steps, strength) for which a diffusers img2img pipeline keeps exactly
        the last ``calls`` entries of :attr:`timesteps` (it keeps ``int(n * strength)``)."""
        strength = min(max(strength, 1e-3), 1.0)
        n = max(calls, round(calls / strength))
        while int(n * strength) < calls:
            n += 1
        while int(n * strength) > calls:
            n -= 1
        return n, strength

    # -- the diffusers scheduler interface --------------------------------------------------
    def set_timesteps(self, num_inference_steps: int, device: Union[str, torch.device, None] = None,
                      **_: Any) -> None:
        """One entry per model call; with a plan, the front is padding the pipeline slices off."""
        steps = self._tail[0] if self._tail is not None else num_inference_steps
        self.sigmas = self._sigmas_for(steps)
        self._levels = self._eval_levels(self.sigmas)
        padding = max(0, num_inference_steps - len(self._levels)) if self._tail is not None else 0
        self._padding = padding
        levels = [self._levels[0]] * padding + self._levels
        self.timesteps = self.model.sigma_to_t(torch.tensor(levels)).to(device or "cpu")
        self._run, self._index, self.finished = None, 0, False

    @property
    def init_noise_sigma(self) -> float:
        return float(self.sigmas[0]) if len(self.sigmas) else 1.0

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Where the pipeline's loop starts. With a plan that is the padding's end (never a model
        call); without one (SDXL's ``denoising_start`` hand-off to a refiner) the run starts at
        the first schedule step whose noise level is not above that entry's."""
        if self._tail is not None or begin_index <= 0 or begin_index >= len(self._levels):
            return
        level = self._levels[begin_index] * (1 + 1e-5)
        keep = int((self.sigmas > level).sum())
        self.sigmas = self.sigmas[keep:]
        self._levels = self._eval_levels(self.sigmas)
        self._padding = begin_index

    def _sigma_now(self) -> float:
        return self._pending[1] if self._run is not None else self._levels[0]

    def scale_model_input(self, sample: torch.Tensor, timestep: Any = None) -> torch.Tensor:
        """k-diffusion's c_in: the UNet sees ``x / sqrt(sigma² + 1)``."""
        sigma = self._sigma_now()
        return sample / ((sigma ** 2 + 1) ** 0.5)

    def _denoised(self, model_output: torch.Tensor, sample: torch.Tensor, sigma: float) -> torch.Tensor:
        kind = self.config["prediction_type"]
        if kind == "v_prediction":  # k-diffusion's CompVisVDenoiser (sigma_data 1)
            return sample / (sigma ** 2 + 1) - model_output * sigma / (sigma ** 2 + 1) ** 0.5
        if kind == "sample":
            return model_output
        return sample - model_output * sigma

    def step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor,
             generator: Generators = None, return_dict: bool = True, **_: Any) -> Any:
        if self.finished:  # the loop holds more entries than the sampler made calls
            return SchedulerOutput(prev_sample=sample) if return_dict else (sample,)
        if self._run is None:
            run = SAMPLER_FUNCTIONS[self.setup.function](
                sample.float(), self.sigmas.to(sample.device), _noise_source(generator), self.setup.options)
            self._pending = _as_request(next(run))
            self._run = run
        sigma = self._pending[1]
        denoised = self._denoised(model_output.float(), sample.float(), sigma)
        try:
            self._pending = _as_request(self._run.send((sample.float(), denoised)))
            prev = self._pending[0]
            self._index += 1
            slot = self._padding + self._index
            if self.setup.function in ADAPTIVE and slot < len(self.timesteps):
                # the next call's timestep is only known now; the pipeline's loop reads it next
                self.timesteps[slot] = self.model.sigma_to_t(torch.tensor(self._pending[1]))
        except StopIteration as done:
            prev, self.finished = done.value, True
        prev = prev.to(sample.dtype)
        return SchedulerOutput(prev_sample=prev) if return_dict else (prev,)

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``original + noise · sigma(t)`` (img2img's start; inpainting's re-noised original)."""
        sigma = self.model.t_to_sigma(torch.as_tensor(timesteps).float().flatten()[:1].cpu())
        return original + noise * sigma.to(original.device, original.dtype)

    def __len__(self) -> int:
        return int(self.config["num_train_timesteps"])


def _as_request(request: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, float]:
    x, sigma = request
    return x, float(sigma)


def _noise_source(generator: Generators) -> Any:
    """randn like x, one CPU generator per image (the job's seeded step generators)."""
    def noise(x: torch.Tensor) -> torch.Tensor:
        if generator is None:
            return torch.randn_like(x)
        generators = list(generator) if isinstance(generator, (list, tuple)) else [generator] * x.shape[0]
        if len(generators) != x.shape[0]:
            generators = [generators[i % len(generators)] for i in range(x.shape[0])]
        return torch.stack([torch.randn(x.shape[1:], generator=g, dtype=torch.float32) for g in generators]
                           ).to(x.device, x.dtype)

    return noise
