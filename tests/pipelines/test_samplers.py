"""A1111 sampler/schedule names -> diffusers schedulers."""

from __future__ import annotations

import inspect

import pytest
import torch

from pipelines.diffusion import samplers as S

# An SD1.x scheduler_config.json (PNDM), as shipped with the checkpoints.
SD1_CONFIG = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}

CASES = [(spec.name, schedule.label) for spec in S.SAMPLERS for schedule in S.SCHEDULES
         if spec.supports(schedule.label)]
K_SAMPLERS = [spec.name for spec in S.SAMPLERS if spec.kfunction is not None]


def _step_once(scheduler) -> torch.Tensor:
    scheduler.set_timesteps(10)
    sample = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * scheduler.init_noise_sigma
    t = scheduler.timesteps[0]
    model_input = scheduler.scale_model_input(sample, t)
    assert model_input.shape == sample.shape
    kwargs = {}
    if "generator" in inspect.signature(scheduler.step).parameters:
        kwargs["generator"] = torch.Generator().manual_seed(1)
    return scheduler.step(torch.randn_like(sample), t, sample, **kwargs).prev_sample


def test_every_k_diffusion_sampler_takes_every_schedule_type() -> None:
    """A1111 computes the sigmas from the schedule and any k-diffusion sampler consumes them."""
    labels = [s.label for s in S.SCHEDULES]
    assert len(labels) == 12 and len(K_SAMPLERS) == 17
    assert {"DPM fast", "DPM adaptive", "Restart"} <= set(K_SAMPLERS) and "DDIM CFG++" in S.sampler_names()
    for name in K_SAMPLERS:
        for label in labels:
            assert S.resolve_sampler(name, label)[1] == label


@pytest.mark.parametrize(("sampler", "schedule"), CASES)
def test_every_sampler_and_schedule_builds_and_steps(sampler: str, schedule: str) -> None:
    scheduler = S.make_scheduler(sampler, schedule, SD1_CONFIG)
    assert type(scheduler).__name__ == S.resolve_sampler(sampler, schedule)[0].scheduler_class
    out = _step_once(scheduler)
    assert torch.isfinite(out).all()


def test_ignored_schedules_still_build_for_timestep_samplers() -> None:
    for name in ("DDIM", "DDIM CFG++", "PLMS", "UniPC"):
        scheduler = S.make_scheduler(name, "Karras", SD1_CONFIG)
        assert scheduler.config.timestep_spacing == "leading"
        assert scheduler.config.steps_offset == 1
        assert torch.isfinite(_step_once(scheduler)).all()


def test_prediction_type_is_kept() -> None:
    config = {**SD1_CONFIG, "prediction_type": "v_prediction"}
    for spec in S.SAMPLERS:
        assert S.make_scheduler(spec.name, "Automatic", config).config["prediction_type"] == "v_prediction"


def _sigmas(name: str, schedule: str, steps: int = 10) -> torch.Tensor:
    scheduler = S.make_scheduler(name, schedule, SD1_CONFIG)
    scheduler.set_timesteps(steps)
    return scheduler.sigmas


def test_automatic_means_the_a1111_default() -> None:
    assert torch.equal(_sigmas("DPM++ 2M", "Automatic"), _sigmas("DPM++ 2M", "Karras"))
    assert torch.equal(_sigmas("DPM++ 2M SDE", None), _sigmas("DPM++ 2M SDE", "Exponential"))
    assert torch.equal(_sigmas("Euler", "Automatic"), _sigmas("Euler", "Uniform"))
    assert torch.equal(_sigmas("Restart", "Automatic"), _sigmas("Restart", "Karras"))
    # DPM2, DPM2 a and DPM++ 3M SDE drop the next-to-last sigma of a one-longer schedule
    assert len(_sigmas("DPM2", "Karras")) == 11 and not torch.equal(_sigmas("DPM2", "Karras"),
                                                                    _sigmas("Euler", "Karras"))
    assert S.make_scheduler("PLMS", "Automatic", SD1_CONFIG).config.skip_prk_steps is True
    assert S.make_scheduler("DDIM", "Automatic", SD1_CONFIG).config.clip_sample is False


def test_schedules_match_diffusers_where_diffusers_has_them() -> None:
    from diffusers import EulerDiscreteScheduler

    base = {k: SD1_CONFIG[k] for k in ("beta_start", "beta_end", "beta_schedule", "num_train_timesteps")}
    for schedule, flags in [("Karras", {"use_karras_sigmas": True}), ("Uniform", {}),
                            ("Exponential", {"use_exponential_sigmas": True})]:
        reference = EulerDiscreteScheduler(**base, timestep_spacing="linspace", **flags)
        reference.set_timesteps(10)
        assert torch.allclose(_sigmas("Euler", schedule), reference.sigmas, rtol=1e-4), schedule


def test_new_schedule_types_follow_a1111() -> None:
    from pipelines.diffusion.sigmas import AYS_SD1

    assert torch.allclose(_sigmas("Euler", "Align Your Steps", 11), torch.tensor([*AYS_SD1, 0.0]))
    assert len(_sigmas("Euler", "Align Your Steps", 20)) == 21
    kl = _sigmas("Euler", "KL Optimal")
    assert len(kl) == 11 and float(kl[-1]) > 0  # A1111's KL Optimal ends at sigma_min, not 0
    assert torch.allclose(_sigmas("Euler", "Polyexponential"), _sigmas("Euler", "Exponential"), rtol=1e-5)  # rho 1
    for schedule in S.SCHEDULES:
        sigmas = _sigmas("Euler", schedule.label)
        assert (sigmas[:-1] >= sigmas[1:]).all(), schedule.label


@pytest.mark.parametrize("name", ["Euler", "Heun", "LMS", "DPM2", "DPM++ 2M", "DPM fast", "DPM adaptive", "Restart",
                                  "LCM", "DPM++ 2M SDE", "DPM++ 3M SDE", "Euler a", "DPM++ SDE", "DPM++ 2S a",
                                  "DPM2 a", "DDPM"])
def test_k_samplers_land_on_a_constant_prediction(name: str) -> None:
    """Every sampler, fed a model whose denoised prediction is always D, ends at D: the
    ODE/SDE solvers are consistent and every model call is answered in order."""
    from pipelines.diffusion.ksampling import SAMPLER_FUNCTIONS, SamplerOptions

    spec, _ = S.resolve_sampler(name, "Karras")
    sigmas = _sigmas(name, "Karras", 24)
    target = torch.full((1, 4, 4, 4), 0.25)
    run = SAMPLER_FUNCTIONS[spec.kfunction](torch.randn(1, 4, 4, 4) * sigmas[0], sigmas,
                                           lambda x: torch.randn_like(x), SamplerOptions())
    calls = 0
    try:
        x, sigma = next(run)
        while True:
            calls += 1
            x, sigma = run.send((x, target))
    except StopIteration as done:
        final = done.value
    if name.startswith("DPM fast") or name == "DPM adaptive":  # they stop at sigma_min, as in A1111
        assert calls >= 10 and torch.allclose(final, target, atol=0.15), (name, calls)
    else:
        assert calls >= 24 and torch.allclose(final, target, atol=1e-4), (name, calls)


def test_pipeline_steps_keep_exactly_the_planned_calls() -> None:
    from pipelines.diffusion.kscheduler import KDiffusionScheduler

    for calls in (1, 2, 5, 16, 39):
        for strength in (0.0, 0.001, 0.3, 0.5, 0.7, 0.75, 0.999, 1.0):
            n, s = KDiffusionScheduler.pipeline_steps(calls, strength)
            assert int(n * s) == calls and 0 < s <= 1, (calls, strength)


@pytest.mark.parametrize(
    ("name", "scheduler", "expected"),
    [
        ("DPM++ 2M Karras", None, ("DPM++ 2M", "Karras")),
        ("DPM++ SDE Karras", "Automatic", ("DPM++ SDE", "Karras")),
        ("DPM++ 2M SDE Exponential", None, ("DPM++ 2M SDE", "Exponential")),
        ("DPM++ 2M SDE Heun Karras", None, ("DPM++ 2M SDE Heun", "Karras")),
        ("dpm++ 2m karras", None, ("DPM++ 2M", "Karras")),
        ("Euler a Normal", None, ("Euler a", "Normal")),
        ("LMS Karras", "Exponential", ("LMS", "Karras")),  # the name wins, as in A1111
        ("k_dpmpp_2m_ka", None, ("DPM++ 2M", "Karras")),
        ("k_dpmpp_3m_sde_exp", None, ("DPM++ 3M SDE", "Exponential")),
        ("k_euler_a", None, ("Euler a", "Automatic")),
        ("K_DPMPP_2M", "karras", ("DPM++ 2M", "Karras")),
        ("euler A", "sgm_uniform", ("Euler a", "SGM Uniform")),
        ("Euler", "SGMUniform", ("Euler", "SGM Uniform")),
        ("ddim", "", ("DDIM", "Automatic")),
        ("UniPC", "KL Optimal", ("UniPC", "KL Optimal")),  # ignored, as A1111 ignores it
    ],
)
def test_resolve(name: str, scheduler: str | None, expected: tuple[str, str]) -> None:
    spec, schedule = S.resolve_sampler(name, scheduler)
    assert (spec.name, schedule) == expected


def test_unknown_sampler_lists_valid_names() -> None:
    with pytest.raises(S.UnknownSamplerError) as info:
        S.resolve_sampler("Euler b", None)
    message = str(info.value)
    for name in S.sampler_names():
        assert name in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(S.UnknownSamplerError):
        S.resolve_sampler("", None)


def test_unknown_and_unsupported_schedules() -> None:
    with pytest.raises(S.UnknownScheduleError, match="Karras"):
        S.resolve_sampler("Euler", "Karas")
    for label in ("Polyexponential", "KL Optimal", "Align Your Steps"):  # DEIS is a diffusers scheduler
        with pytest.raises(S.UnsupportedScheduleError, match="Supported schedule types"):
            S.resolve_sampler("DEIS", label)


def test_infotext_schedule_and_normalisation() -> None:
    dpm, _ = S.resolve_sampler("DPM++ 2M", None)
    euler_a, _ = S.resolve_sampler("Euler a", None)
    assert S.infotext_schedule(dpm, "Automatic") == "Karras"
    assert S.infotext_schedule(euler_a, "Automatic") == "Automatic"
    assert S.normalize_sampler_and_schedule("DPM++ 2M", "Karras") == ("DPM++ 2M", "Automatic")
    assert S.normalize_sampler_and_schedule("DPM++ 2M", "Karras", convert_automatic=False) == ("DPM++ 2M", "Karras")
    assert S.normalize_sampler_and_schedule("DPM++ 2M Karras", None) == ("DPM++ 2M", "Automatic")
    assert S.normalize_sampler_and_schedule("Some Extension Sampler", "Weird") == ("Some Extension Sampler", "Weird")
    assert S.normalize_sampler_and_schedule(None, None) == ("", "Automatic")


def test_api_listings_have_a1111_shape() -> None:
    samplers = S.list_samplers()
    assert [s["name"] for s in samplers][:2] == ["DPM++ 2M", "DPM++ SDE"]
    for entry in samplers:
        assert set(entry) == {"name", "aliases", "options"}
        assert isinstance(entry["aliases"], list) and isinstance(entry["options"], dict)
    assert samplers[0]["options"] == {"scheduler": "karras"}
    schedulers = S.list_schedulers()
    for entry in schedulers:
        assert set(entry) == {"name", "label", "aliases", "default_rho", "need_inner_model"}
    labels = [s["label"] for s in schedulers]
    assert labels[0] == "Automatic" and "Karras" in labels and "KL Optimal" in labels and len(labels) == 12
    karras = next(s for s in schedulers if s["name"] == "karras")
    assert karras["default_rho"] == 7.0 and karras["aliases"] is None


def test_stochastic_flags() -> None:
    flags = {s.name: s.stochastic for s in S.SAMPLERS}
    assert flags["Euler a"] and flags["DPM++ SDE"] and flags["DPM++ 2M SDE"] and flags["DPM2 a"]
    assert not flags["Euler"] and not flags["DPM++ 2M"] and not flags["DDIM"]


@pytest.mark.parametrize(("name", "schedule", "reference", "flags"), [
    ("Euler", "Uniform", "EulerDiscreteScheduler", {"timestep_spacing": "linspace"}),
    ("Euler", "Karras", "EulerDiscreteScheduler", {"timestep_spacing": "linspace", "use_karras_sigmas": True}),
    ("Heun", "Karras", "HeunDiscreteScheduler", {"timestep_spacing": "linspace", "use_karras_sigmas": True}),
])
def test_k_scheduler_matches_diffusers_on_a_real_pipeline(ctx, name: str, schedule: str, reference: str,
                                                          flags: dict) -> None:
    """Where diffusers has the same sampler, the k-diffusion path gives the same image."""
    import diffusers
    import numpy as np

    loaded = ctx.manager.checkpoint("tiny-sd1")
    pipe = loaded.pipeline("txt2img")
    base = {k: loaded.scheduler_config[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                                    "prediction_type") if k in loaded.scheduler_config}
    outputs = []
    for scheduler in (S.make_scheduler(name, schedule, loaded.scheduler_config),
                      getattr(diffusers, reference)(**{**base, **flags})):
        pipe.scheduler = scheduler
        latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
        outputs.append(np.asarray(pipe(prompt="a fox", num_inference_steps=6, latents=latents, width=64, height=64,
                                       output_type="np").images))
    assert np.abs(outputs[0] - outputs[1]).max() < 2e-3
