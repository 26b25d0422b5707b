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

CASES = [
    (spec.name, schedule)
    for spec in S.SAMPLERS
    for schedule in [S.AUTOMATIC, *sorted(spec.schedules)]
]


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


@pytest.mark.parametrize(("sampler", "schedule"), CASES)
def test_every_sampler_and_schedule_builds_and_steps(sampler: str, schedule: str) -> None:
    scheduler = S.make_scheduler(sampler, schedule, SD1_CONFIG)
    assert type(scheduler).__name__ == S.resolve_sampler(sampler, schedule)[0].scheduler_class
    out = _step_once(scheduler)
    assert torch.isfinite(out).all()


def test_ignored_schedules_still_build_for_timestep_samplers() -> None:
    for name in ("DDIM", "PLMS", "UniPC"):
        scheduler = S.make_scheduler(name, "Karras", SD1_CONFIG)
        assert scheduler.config.timestep_spacing == "leading"
        assert scheduler.config.steps_offset == 1
        assert torch.isfinite(_step_once(scheduler)).all()


def test_prediction_type_is_kept() -> None:
    config = {**SD1_CONFIG, "prediction_type": "v_prediction"}
    for spec in S.SAMPLERS:
        assert S.make_scheduler(spec.name, "Automatic", config).config.prediction_type == "v_prediction"


def test_sampler_keys_of_the_base_config_do_not_leak() -> None:
    config = {**SD1_CONFIG, "use_karras_sigmas": True, "algorithm_type": "sde-dpmsolver++", "solver_order": 3}
    scheduler = S.make_scheduler("DPM++ 2M", "Uniform", config)
    assert scheduler.config.use_karras_sigmas is False
    assert scheduler.config.algorithm_type == "dpmsolver++"
    assert scheduler.config.solver_order == 2
    assert scheduler.config.timestep_spacing == "linspace"


def test_automatic_means_the_a1111_default() -> None:
    assert S.make_scheduler("DPM++ 2M", "Automatic", SD1_CONFIG).config.use_karras_sigmas is True
    assert S.make_scheduler("DPM++ 2M SDE", None, SD1_CONFIG).config.use_exponential_sigmas is True
    euler = S.make_scheduler("Euler", "Automatic", SD1_CONFIG)
    assert euler.config.timestep_spacing == "linspace" and euler.config.use_karras_sigmas is False
    heun = S.make_scheduler("DPM++ 2M SDE Heun", "Automatic", SD1_CONFIG)
    assert heun.config.solver_type == "heun" and heun.config.algorithm_type == "sde-dpmsolver++"
    assert S.make_scheduler("DPM++ 3M SDE", "Karras", SD1_CONFIG).config.solver_order == 3
    assert S.make_scheduler("PLMS", "Automatic", SD1_CONFIG).config.skip_prk_steps is True
    assert S.make_scheduler("DDIM", "Automatic", SD1_CONFIG).config.clip_sample is False


def test_spacing_schedules() -> None:
    assert S.make_scheduler("Euler", "SGM Uniform", SD1_CONFIG).config.timestep_spacing == "trailing"
    assert S.make_scheduler("Euler", "Simple", SD1_CONFIG).config.timestep_spacing == "trailing"
    ddim = S.make_scheduler("Euler", "DDIM", SD1_CONFIG)
    assert ddim.config.timestep_spacing == "leading" and ddim.config.steps_offset == 1
    assert S.make_scheduler("Euler", "Beta", SD1_CONFIG).config.use_beta_sigmas is True


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
    with pytest.raises(S.UnknownSamplerError, match="not available in Atelier"):
        S.make_scheduler("DPM adaptive", "Automatic", SD1_CONFIG)
    with pytest.raises(S.UnknownSamplerError):
        S.resolve_sampler("", None)


def test_unknown_and_unsupported_schedules() -> None:
    with pytest.raises(S.UnknownScheduleError, match="Karras"):
        S.resolve_sampler("Euler", "Karas")
    with pytest.raises(S.UnsupportedScheduleError, match="Supported schedule types"):
        S.resolve_sampler("Euler a", "Karras")
    for label in S.UNSUPPORTED_SCHEDULES:
        with pytest.raises(S.UnsupportedScheduleError):
            S.resolve_sampler("DPM++ 2M", label)
    assert set(S.UNSUPPORTED_SCHEDULES) == {"Polyexponential", "KL Optimal", "Align Your Steps"}


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
    assert labels[0] == "Automatic" and "Karras" in labels and "KL Optimal" not in labels
    assert len(S.list_schedulers(include_unsupported=True)) == 12
    karras = next(s for s in schedulers if s["name"] == "karras")
    assert karras["default_rho"] == 7.0 and karras["aliases"] is None


def test_stochastic_flags() -> None:
    flags = {s.name: s.stochastic for s in S.SAMPLERS}
    assert flags["Euler a"] and flags["DPM++ SDE"] and flags["DPM++ 2M SDE"] and flags["DPM2 a"]
    assert not flags["Euler"] and not flags["DPM++ 2M"] and not flags["DDIM"]
