"""A1111's k-diffusion samplers, written as generators over any list of sigmas.

Each sampler is a generator: it yields ``(x, sigma)`` whenever it needs the model's denoised
prediction at noise level ``sigma``, receives ``(x, denoised)`` back (``x`` as the pipeline
actually evaluated it, e.g. after an inpainting blend) and returns the final latents. Driving
them one model call at a time lets a diffusers pipeline run them unchanged (see
:mod:`pipelines.diffusion.kscheduler`), and lets the schedule be any sigma list, as in A1111.

The algorithms follow k-diffusion (Crowson), A1111's ``sd_samplers_extra.restart_sampler`` and
``sd_samplers_lcm``; the SDE samplers draw Gaussian noise per step where k-diffusion uses a
Brownian tree (torchsde is not a dependency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Generator, Mapping, Optional

import torch

Sampling = Generator[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SamplerOptions:
    """A1111's per-job sampler parameters (``eta``, ``s_churn``, ``s_tmin``, ``s_tmax``, ``s_noise``)."""

    eta: float = 1.0
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = math.inf
    s_noise: float = 1.0


def _d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The Karras ODE derivative."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_down, sigma_up) of an ancestral step."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    up = torch.minimum(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    return (sigma_to ** 2 - up ** 2) ** 0.5, up


def _churn(x: torch.Tensor, sigmas: torch.Tensor, i: int, noise: Noise, o: SamplerOptions
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Karras' "churn": raise sigma_i to sigma_hat by adding fresh noise (s_churn > 0 only)."""
    gamma = min(o.s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if o.s_tmin <= sigmas[i] <= o.s_tmax else 0.0
    sigma_hat = sigmas[i] * (gamma + 1)
    if gamma > 0:
        x = x + noise(x) * o.s_noise * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
    return x, sigma_hat


def _churned_call(x: torch.Tensor, sigmas: torch.Tensor, i: int, noise: Noise, o: SamplerOptions) -> Generator:
    """Churn, then one model call: (x, sigma_hat, derivative) of Karras' Algorithm 2."""
    x, sigma_hat = _churn(x, sigmas, i, noise, o)
    x, denoised = yield x, sigma_hat
    return x, sigma_hat, _d(x, sigma_hat, denoised)


def euler(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = yield from _churned_call(x, sigmas, i, noise, o)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


def euler_ancestral(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        down, up = ancestral_step(sigmas[i], sigmas[i + 1], o.eta)
        x = x + _d(x, sigmas[i], denoised) * (down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(x) * o.s_noise * up
    return x


def heun(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = yield from _churned_call(x, sigmas, i, noise, o)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2, denoised_2 = yield x + d * dt, sigmas[i + 1]
            x = x + (d + _d(x_2, sigmas[i + 1], denoised_2)) / 2 * dt
    return x


def dpm_2(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = yield from _churned_call(x, sigmas, i, noise, o)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_2, denoised_2 = yield x + d * (sigma_mid - sigma_hat), sigma_mid
            x = x + _d(x_2, sigma_mid, denoised_2) * (sigmas[i + 1] - sigma_hat)
    return x


def dpm_2_ancestral(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        down, up = ancestral_step(sigmas[i], sigmas[i + 1], o.eta)
        d = _d(x, sigmas[i], denoised)
        if down == 0:
            x = x + d * (down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(down.log(), 0.5).exp()
            x_2, denoised_2 = yield x + d * (sigma_mid - sigmas[i]), sigma_mid
            x = x + _d(x_2, sigma_mid, denoised_2) * (down - sigmas[i])
            x = x + noise(x) * o.s_noise * up
    return x


def _lms_coefficient(order: int, t: list[float], i: int, j: int) -> float:
    """Integral over [t_i, t_i+1] of the j-th Lagrange basis polynomial (exact, by Gauss-Legendre)."""
    def basis(tau: float) -> float:
        prod = 1.0
        for k in range(order):
            if k != j:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    nodes, weights = _GAUSS_4
    a, b = t[i], t[i + 1]
    return (b - a) / 2 * sum(w * basis((b - a) / 2 * n + (a + b) / 2) for n, w in zip(nodes, weights))


# 4-point Gauss-Legendre: exact for the cubic basis polynomials of order-4 LMS
_GAUSS_4 = ((-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526),
            (0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538))


def lms(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions, order: int = 4) -> Sampling:
    points = [float(s) for s in sigmas]
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        ds = [*ds, _d(x, sigmas[i], denoised)][-order:]
        current = min(i + 1, order)
        coefficients = [_lms_coefficient(current, points, i, j) for j in range(current)]
        x = x + sum(c * d for c, d in zip(coefficients, reversed(ds)))
    return x


def _t(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.log().neg()


def _sigma(t: torch.Tensor) -> torch.Tensor:
    return t.neg().exp()


def dpmpp_2s_ancestral(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        down, up = ancestral_step(sigmas[i], sigmas[i + 1], o.eta)
        if down == 0:
            x = x + _d(x, sigmas[i], denoised) * (down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(down)
            h = t_next - t
            s = t + h / 2
            x_2, denoised_2 = yield (_sigma(s) / _sigma(t)) * x - (-h / 2).expm1() * denoised, _sigma(s)
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(x) * o.s_noise * up
    return x


def dpmpp_sde(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions, r: float = 0.5) -> Sampling:
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + _d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        s = t + h * r
        down, up = ancestral_step(_sigma(t), _sigma(s), o.eta)
        s_ = _t(down)
        x_2 = (_sigma(s_) / _sigma(t)) * x - (t - s_).expm1() * denoised
        x_2 = x_2 + noise(x) * o.s_noise * up
        x_2, denoised_2 = yield x_2, _sigma(s)
        down, up = ancestral_step(_sigma(t), _sigma(t_next), o.eta)
        t_next_ = _t(down)
        fac = 1 / (2 * r)
        mixed = (1 - fac) * denoised + fac * denoised_2
        x = (_sigma(t_next_) / _sigma(t)) * x - (t - t_next_).expm1() * mixed
        x = x + noise(x) * o.s_noise * up
    return x


def dpmpp_2m(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    old: Optional[torch.Tensor] = None
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        if old is None or sigmas[i + 1] == 0:
            mixed = denoised
        else:
            r = (t - _t(sigmas[i - 1])) / h
            mixed = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
        x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * mixed
        old = denoised
    return x


def dpmpp_2m_sde(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions,
                 solver_type: str = "midpoint") -> Sampling:
    old: Optional[torch.Tensor] = None
    h_last: Optional[torch.Tensor] = None
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        h = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = _t(sigmas[i]), _t(sigmas[i + 1])
            h = s - t
            eta_h = o.eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            if old is not None and h_last is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + ((-h - eta_h).expm1().neg() / (-h - eta_h) + 1) * (1 / r) * (denoised - old)
                else:
                    x = x + 0.5 * (-h - eta_h).expm1().neg() * (1 / r) * (denoised - old)
            if o.eta:
                x = x + noise(x) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * o.s_noise
        old, h_last = denoised, h
    return x


def dpmpp_2m_sde_heun(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    return (yield from dpmpp_2m_sde(x, sigmas, noise, o, solver_type="heun"))


def dpmpp_3m_sde(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    history: list[tuple[torch.Tensor, Optional[torch.Tensor]]] = []  # (denoised, h) of the last two steps
    for i in range(len(sigmas) - 1):
        (d_1, h_1), (d_2, h_2) = ([*reversed(history), (None, None), (None, None)])[:2]
        x, denoised = yield x, sigmas[i]
        h = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = _t(sigmas[i + 1]) - _t(sigmas[i])
            h_eta = h * (o.eta + 1)
            x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
            if h_2 is not None and d_2 is not None and d_1 is not None and h_1 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - d_1) / r0
                d1_1 = (d_1 - d_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
            elif h_1 is not None and d_1 is not None:
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + phi_2 * (denoised - d_1) / (h_1 / h)
            if o.eta:
                x = x + noise(x) * sigmas[i + 1] * (-2 * h * o.eta).expm1().neg().sqrt() * o.s_noise
        history = [*history, (denoised, h)][-2:]
    return x


def lcm(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    """A1111's LCM sampler: jump to the prediction, re-noise to the next level."""
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise(x)
    return x


def ddpm(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    """DDPM's ancestral posterior step written in sigma space (any schedule)."""
    for i in range(len(sigmas) - 1):
        x, denoised = yield x, sigmas[i]
        sigma, nxt = sigmas[i], sigmas[i + 1]
        eps = (x - denoised) / sigma
        a_cum, a_prev = 1 / (sigma ** 2 + 1), 1 / (nxt ** 2 + 1)
        alpha = a_cum / a_prev
        mean = (x * a_cum.sqrt() - (1 - alpha) * eps / (1 - a_cum).sqrt()) / alpha.sqrt()
        if nxt > 0:
            mean = mean + ((1 - alpha) * (1 - a_prev) / (1 - a_cum)).sqrt() * noise(x)
        x = mean / a_prev.sqrt()
    return x


def _karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return torch.cat([((hi + ramp * (lo - hi)) ** rho).float(), torch.zeros(1)])


def restart(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    """Restart sampling (Xu et al. 2023) as A1111 runs it: Heun steps, and from 20 steps on a
    Karras schedule with its low-noise segment re-noised and re-solved once (twice from 36)."""
    steps = len(sigmas) - 1
    restarts: dict[int, tuple[int, int, float]] = {}
    if steps >= 20:
        restart_steps, times = (steps // 4, 2) if steps >= 36 else (9, 1)
        sigmas = _karras(steps - restart_steps * times, float(sigmas[-2]), float(sigmas[0]))
        restarts = {int(torch.argmin((sigmas - 0.1).abs())): (restart_steps + 1, times, 2.0)}
    segments: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i in range(len(sigmas) - 1):
        segments.append((sigmas[i], sigmas[i + 1]))
        if i + 1 in restarts:
            restart_steps, times, restart_max = restarts[i + 1]
            low, high = i + 1, int(torch.argmin((sigmas - restart_max).abs()))
            if high < low:
                ladder = _karras(restart_steps, float(sigmas[low]), float(sigmas[high]))[:-1]
                segments += list(zip(ladder[:-1], ladder[1:])) * times
    last: Optional[torch.Tensor] = None
    for old, new in segments:
        if last is not None and last < old:
            x = x + noise(x) * o.s_noise * (old ** 2 - last ** 2) ** 0.5
        x, denoised = yield x, old
        d = _d(x, old, denoised)
        if new == 0:
            x = x + d * (new - old)
        else:
            x_2, denoised_2 = yield x + d * (new - old), new
            x = x + (d + _d(x_2, new, denoised_2)) / 2 * (new - old)
        last = new
    return x


# -- DPM-Solver fast / adaptive (Lu et al. 2022), in t = -log sigma ------------------------------
def _eps_at(x: torch.Tensor, t: torch.Tensor) -> Generator:
    x, denoised = yield x, _sigma(t)
    return x, (x - denoised) / _sigma(t)


def _solver_1(x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return x - _sigma(t_next) * (t_next - t).expm1() * eps


def _second(x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, eps: torch.Tensor, eps_r1: torch.Tensor,
            r1: float) -> torch.Tensor:
    h = t_next - t
    return x - _sigma(t_next) * h.expm1() * eps - _sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)


def _eps_r1(x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, eps: torch.Tensor, r1: float) -> Generator:
    h = t_next - t
    s1 = t + r1 * h
    _, eps_r1 = yield from _eps_at(x - _sigma(s1) * (r1 * h).expm1() * eps, s1)
    return eps_r1


def _solver_2(x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, eps: torch.Tensor, r1: float = 0.5
              ) -> Generator:
    eps_r1 = yield from _eps_r1(x, t, t_next, eps, r1)
    return _second(x, t, t_next, eps, eps_r1, r1)


def _solver_3(x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, eps: torch.Tensor,
              eps_r1: Optional[torch.Tensor] = None, r1: float = 1 / 3, r2: float = 2 / 3) -> Generator:
    h = t_next - t
    s2 = t + r2 * h
    if eps_r1 is None:
        eps_r1 = yield from _eps_r1(x, t, t_next, eps, r1)
    u2 = (x - _sigma(s2) * (r2 * h).expm1() * eps
          - _sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps))
    _, eps_r2 = yield from _eps_at(u2, s2)
    return x - _sigma(t_next) * h.expm1() * eps - _sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)


def _endpoints(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A1111 passes sigma_max = sigmas[0] and sigma_min = the last non-zero sigma."""
    positive = sigmas[sigmas > 0]
    return _t(positive[0]), _t(positive[-1])


def dpm_fast(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions) -> Sampling:
    """DPM-Solver-Fast: ``n`` model calls in orders 3, 3, ..., with log-uniform steps."""
    t_start, t_end = _endpoints(sigmas)
    nfe = len(sigmas) - 1
    m = nfe // 3 + 1
    ts = torch.linspace(float(t_start), float(t_end), m + 1)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        t, t_next = ts[i], ts[i + 1]
        down, up = ancestral_step(_sigma(t), _sigma(t_next), o.eta)
        t_next_ = torch.minimum(t_end, _t(down)) if o.eta else t_next
        up = (_sigma(t_next) ** 2 - _sigma(t_next_) ** 2) ** 0.5 if o.eta else torch.zeros(())
        x, eps = yield from _eps_at(x, t)
        if order == 1:
            x = _solver_1(x, t, t_next_, eps)
        elif order == 2:
            x = yield from _solver_2(x, t, t_next_, eps)
        else:
            x = yield from _solver_3(x, t, t_next_, eps)
        x = x + up * o.s_noise * noise(x)
    return x


def dpm_adaptive(x: torch.Tensor, sigmas: torch.Tensor, noise: Noise, o: SamplerOptions, rtol: float = 0.05,
                 atol: float = 0.0078, h_init: float = 0.05, accept_safety: float = 0.81) -> Sampling:
    """DPM-Solver-23 with an integral step-size controller: as many model calls as it needs."""
    s, t_end = _endpoints(sigmas)
    h = h_init
    x_prev = x
    while s < t_end - 1e-5:
        t = torch.minimum(t_end, s + h)
        if o.eta:
            down, _ = ancestral_step(_sigma(s), _sigma(t), o.eta)
            t_ = torch.minimum(t_end, _t(down))
            up = (_sigma(t) ** 2 - _sigma(t_) ** 2) ** 0.5
        else:
            t_, up = t, torch.zeros(())
        x, eps = yield from _eps_at(x, s)
        eps_r1 = yield from _eps_r1(x, s, t_, eps, 1 / 3)  # shared by both solvers (3 calls a try)
        x_low = _second(x, s, t_, eps, eps_r1, 1 / 3)
        x_high = yield from _solver_3(x, s, t_, eps, eps_r1)
        delta = torch.maximum(torch.tensor(atol), rtol * torch.maximum(x_low.abs(), x_prev.abs()))
        error = float(torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5)
        # k-diffusion's PID controller with only the integral term: error^(-1/order), limited
        factor = 1 + math.atan((1 / (error + 1e-8)) ** (1 / (1.5 if o.eta else 3)) - 1)
        if factor >= accept_safety:
            x_prev = x_low
            x = x_high + up * o.s_noise * noise(x)
            s = t
        h *= factor
    return x


SamplerFunction = Callable[..., Sampling]
SAMPLER_FUNCTIONS: Mapping[str, SamplerFunction] = {
    "euler": euler, "euler_ancestral": euler_ancestral, "heun": heun, "dpm_2": dpm_2,
    "dpm_2_ancestral": dpm_2_ancestral, "lms": lms, "dpmpp_2s_ancestral": dpmpp_2s_ancestral,
    "dpmpp_sde": dpmpp_sde, "dpmpp_2m": dpmpp_2m, "dpmpp_2m_sde": dpmpp_2m_sde,
    "dpmpp_2m_sde_heun": dpmpp_2m_sde_heun, "dpmpp_3m_sde": dpmpp_3m_sde, "lcm": lcm, "ddpm": ddpm,
    "restart": restart, "dpm_fast": dpm_fast, "dpm_adaptive": dpm_adaptive,
}
# Samplers whose model calls depend on the model's answers (cannot be listed in advance)
ADAPTIVE = frozenset({"dpm_adaptive"})


def evaluation_sigmas(name: str, sigmas: torch.Tensor, options: SamplerOptions = SamplerOptions()) -> list[float]:
    """The noise levels of every model call ``name`` makes on ``sigmas`` (not for ADAPTIVE ones).

    Found by running the sampler against a stand-in model; none of them chooses its levels
    from the model's output.
    """
    probe = torch.zeros(1, 1, 1, 1)
    run = SAMPLER_FUNCTIONS[name](probe, sigmas.float(), torch.zeros_like, options)
    levels: list[float] = []
    try:
        x, sigma = next(run)
        while True:
            levels.append(float(sigma))
            x, sigma = run.send((x, torch.zeros_like(x)))
    except StopIteration:
        return levels
