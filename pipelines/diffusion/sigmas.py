"""Noise levels: a discrete model's own sigmas, and A1111's twelve schedule types over them.

A1111 (modules/sd_schedulers.py, k-diffusion's DiscreteSchedule) computes a descending list of
``n + 1`` sigmas ending in 0 from a schedule type, then hands it to any k-diffusion sampler.
This module reproduces those schedules from the checkpoint's training betas so every sampler
can follow every schedule.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import torch

# Keys of scheduler_config.json that fix the training noise levels
_BETA_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
              "rescale_betas_zero_snr")
# nvidia.com AlignYourSteps "howto": 10-step sigmas (+ sigma_min) tuned for SD 1.5 and SDXL
AYS_SD1 = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)
AYS_SDXL = (14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029)
# A1111's beta_dist_alpha / beta_dist_beta defaults
BETA_ALPHA = BETA_BETA = 0.6


class ModelSigmas:
    """The training sigmas of a discrete (DDPM-trained) model, ascending, with k-diffusion's
    fractional conversion between a sigma and the timestep the UNet is called with."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        ac = alphas_cumprod.double().clamp(min=1e-12)
        self.sigmas = ((1 - ac) / ac).sqrt().float()
        self.log_sigmas = self.sigmas.log()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ModelSigmas":
        """From a checkpoint's scheduler_config.json (its betas; the sampler keys are ignored)."""
        from diffusers import DDPMScheduler

        kwargs = {k: config[k] for k in _BETA_KEYS if k in config and config[k] is not None}
        return cls(DDPMScheduler(**kwargs).alphas_cumprod)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """The (fractional) timestep of ``sigma``: linear in log sigma between training steps."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        log_sigma = sigma.clamp(min=1e-10).log()
        dists = log_sigma - self.log_sigmas[:, None]
        low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high = low + 1
        lo, hi = self.log_sigmas[low], self.log_sigmas[high]
        w = ((lo - log_sigma.flatten()) / (lo - hi)).clamp(0, 1)
        return ((1 - w) * low + w * high).view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32).clamp(0, len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.float(), sigmas.new_zeros(1, dtype=torch.float32)])


def uniform(n: int, model: ModelSigmas, **_: Any) -> torch.Tensor:
    """k-diffusion's ``get_sigmas(n)``: timesteps spread evenly from the last to the first."""
    return _append_zero(model.t_to_sigma(torch.linspace(len(model.sigmas) - 1, 0, n)))


def karras(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, rho: float = 7.0, **_: Any
           ) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def exponential(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, **_: Any) -> torch.Tensor:
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64).exp())


def polyexponential(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, rho: float = 1.0,
                    **_: Any) -> torch.Tensor:
    ramp = torch.linspace(1, 0, n, dtype=torch.float64) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def _timestep_spaced(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, drop_last: bool) -> torch.Tensor:
    start, end = model.sigma_to_t(torch.tensor(sigma_max)), model.sigma_to_t(torch.tensor(sigma_min))
    ts = torch.linspace(float(start), float(end), n + 1)[:-1] if drop_last else torch.linspace(float(start), float(end), n)
    return _append_zero(model.t_to_sigma(ts))


def sgm_uniform(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, **_: Any) -> torch.Tensor:
    return _timestep_spaced(n, model, sigma_min, sigma_max, drop_last=True)


def normal(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, **_: Any) -> torch.Tensor:
    return _timestep_spaced(n, model, sigma_min, sigma_max, drop_last=False)


def kl_optimal(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, **_: Any) -> torch.Tensor:
    """tan of an even ramp between arctan(sigma_max) and arctan(sigma_min); ends at sigma_min."""
    lo, hi = math.atan(sigma_min), math.atan(sigma_max)
    ramp = torch.arange(n + 1, dtype=torch.float64) / n
    return torch.tan(ramp * lo + (1.0 - ramp) * hi).float()


def align_your_steps(n: int, model: ModelSigmas, is_sdxl: bool = False, **_: Any) -> torch.Tensor:
    """NVIDIA's tuned 10-step sigmas, log-linearly resampled to ``n`` steps."""
    table = AYS_SDXL if is_sdxl else AYS_SD1
    if n == len(table):
        return _append_zero(torch.tensor(table, dtype=torch.float64))
    ys = np.log(np.asarray(table[::-1]))
    resampled = np.exp(np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(table)), ys))[::-1].copy()
    return _append_zero(torch.from_numpy(resampled))


def simple(n: int, model: ModelSigmas, **_: Any) -> torch.Tensor:
    """Every (1000 / n)-th training sigma from the top."""
    stride = len(model.sigmas) / n
    return _append_zero(torch.stack([model.sigmas[-(1 + int(i * stride))] for i in range(n)]))


def ddim(n: int, model: ModelSigmas, **_: Any) -> torch.Tensor:
    """Every (1000 // n)-th training sigma starting at timestep 1, descending."""
    stride = max(len(model.sigmas) // n, 1)
    return _append_zero(model.sigmas[1::stride].flip(0))


def beta(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float, alpha: float = BETA_ALPHA,
         beta_: float = BETA_BETA, **_: Any) -> torch.Tensor:
    """"Beta Sampling is All You Need" (Lee et al. 2024): Beta-distribution quantiles."""
    from scipy import stats

    quantiles = stats.beta.ppf(1 - np.linspace(0, 1, n), alpha, beta_)
    return _append_zero(torch.from_numpy(sigma_min + quantiles * (sigma_max - sigma_min)))


ScheduleFunction = Callable[..., torch.Tensor]
# A1111 internal schedule name → function (``automatic`` is resolved before this table)
SCHEDULE_FUNCTIONS: Mapping[str, ScheduleFunction] = {
    "uniform": uniform, "karras": karras, "exponential": exponential, "polyexponential": polyexponential,
    "sgm_uniform": sgm_uniform, "kl_optimal": kl_optimal, "align_your_steps": align_your_steps,
    "simple": simple, "normal": normal, "ddim": ddim, "beta": beta,
}


def schedule_sigmas(name: str, n: int, model: ModelSigmas, *, is_sdxl: bool = False,
                    discard_penultimate: bool = False) -> torch.Tensor:
    """``n + 1`` descending sigmas ending in 0 for schedule ``name`` (A1111's get_sigmas).

    ``discard_penultimate`` (DPM2, DPM2 a, DPM++ 3M SDE) computes one step more and drops the
    next-to-last sigma, as A1111 does.
    """
    steps = max(1, n) + (1 if discard_penultimate else 0)
    sigmas = SCHEDULE_FUNCTIONS[name](steps, model, sigma_min=model.sigma_min, sigma_max=model.sigma_max,
                                      is_sdxl=is_sdxl).float()
    if discard_penultimate:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas
