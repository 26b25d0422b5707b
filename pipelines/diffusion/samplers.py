"""AUTOMATIC1111 sampler and schedule-type names mapped onto diffusers schedulers.

A1111 splits a sampler ("DPM++ 2M") from its noise schedule ("Karras"); diffusers folds both
into one scheduler class plus config flags. This module owns that translation so the UI, the
REST API and the infotext parser accept exactly the names A1111 accepts (aliases, legacy
"DPM++ 2M Karras" style names, any letter case) and build the closest diffusers scheduler.

Only constant tables live at module level; every call builds a fresh scheduler.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Optional

if TYPE_CHECKING:
    from pipelines.diffusion.ksampling import SamplerOptions

AUTOMATIC = "Automatic"


class UnknownSamplerError(ValueError):
    """A sampler name that is neither an A1111 name, an alias nor a legacy combined name."""


class UnknownScheduleError(ValueError):
    """A schedule type that A1111 does not know."""


class UnsupportedScheduleError(ValueError):
    """A real A1111 schedule type that the chosen sampler cannot follow under diffusers."""


# --------------------------------------------------------------------------------------------
# Schedule types (A1111 1.10 modules/sd_schedulers.py)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSpec:
    """One A1111 schedule type and the diffusers config that reproduces it (None: cannot)."""

    name: str  # A1111 internal name, e.g. "karras"
    label: str  # what the UI, the API and infotexts show, e.g. "Karras"
    aliases: tuple[str, ...] = ()
    default_rho: float = -1.0
    need_inner_model: bool = False
    config: Optional[Mapping[str, Any]] = None
    kind: str = "none"  # "sigmas": needs use_*_sigmas; "spacing": needs timestep_spacing
    note: str = ""


_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec("automatic", AUTOMATIC),
    # k-diffusion's DiscreteSchedule.get_sigmas: linspace over the training timesteps.
    ScheduleSpec(
        "uniform", "Uniform", need_inner_model=True,
        config=MappingProxyType({"timestep_spacing": "linspace"}), kind="spacing",
    ),
    ScheduleSpec(
        "karras", "Karras", default_rho=7.0,
        config=MappingProxyType({"use_karras_sigmas": True}), kind="sigmas",
    ),
    ScheduleSpec(
        "exponential", "Exponential",
        config=MappingProxyType({"use_exponential_sigmas": True}), kind="sigmas",
    ),
    ScheduleSpec(
        "polyexponential", "Polyexponential", default_rho=1.0,
        note="diffusers' own schedulers have no polyexponential sigmas",
    ),
    # linspace(t_max, t_min, n + 1)[:-1]: diffusers' "trailing" spacing (equal up to rounding).
    ScheduleSpec(
        "sgm_uniform", "SGM Uniform", aliases=("SGMUniform",), need_inner_model=True,
        config=MappingProxyType({"timestep_spacing": "trailing"}), kind="spacing",
    ),
    ScheduleSpec("kl_optimal", "KL Optimal", note="diffusers' own schedulers have no KL-optimal sigmas"),
    ScheduleSpec(
        "align_your_steps", "Align Your Steps",
        note="diffusers' own schedulers cannot be given Align Your Steps' sigmas",
    ),
    # ComfyUI's "simple": every (1000/n)-th sigma from the top, i.e. "trailing" spacing.
    ScheduleSpec(
        "simple", "Simple", need_inner_model=True,
        config=MappingProxyType({"timestep_spacing": "trailing"}), kind="spacing",
    ),
    # For discrete models "normal" is the same linspace as "uniform".
    ScheduleSpec(
        "normal", "Normal", need_inner_model=True,
        config=MappingProxyType({"timestep_spacing": "linspace"}), kind="spacing",
    ),
    # Every (1000//n)-th timestep starting at 1: "leading" spacing with steps_offset 1.
    ScheduleSpec(
        "ddim", "DDIM", need_inner_model=True,
        config=MappingProxyType({"timestep_spacing": "leading", "steps_offset": 1}), kind="spacing",
    ),
    # diffusers' beta sigmas use alpha = beta = 0.6, A1111's defaults.
    ScheduleSpec(
        "beta", "Beta", need_inner_model=True,
        config=MappingProxyType({"use_beta_sigmas": True}), kind="sigmas",
    ),
)

_SCHEDULES_BY_LABEL: Mapping[str, ScheduleSpec] = MappingProxyType({s.label: s for s in SCHEDULES})

# --------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------

_SPACING = frozenset(s.label for s in SCHEDULES if s.kind == "spacing")
_SIGMAS = frozenset(s.label for s in SCHEDULES if s.kind == "sigmas")


@dataclass(frozen=True)
class SamplerSpec:
    """One A1111 sampler and the diffusers scheduler that stands in for it.

    ``schedules`` lists the schedule types that change the result; ``Automatic`` is always
    accepted. ``ignores_schedule`` marks A1111's timestep samplers (DDIM, PLMS, UniPC), which
    accept any schedule type and ignore it, as A1111 does. ``stochastic`` means ``step()``
    draws fresh noise every step (ancestral/SDE): pass a seeded generator for reproducibility.
    """

    name: str
    aliases: tuple[str, ...]
    scheduler_class: str
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    default_schedule: Optional[str] = None  # what "Automatic" means; None: the model's own
    schedules: frozenset[str] = frozenset()
    ignores_schedule: bool = False
    stochastic: bool = False
    a1111_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    in_a1111: bool = True
    note: str = ""
    kfunction: Optional[str] = None  # a k-diffusion sampler of ksampling: every schedule applies

    def supports(self, schedule: str) -> bool:
        """Whether ``schedule`` (a canonical label) can be honoured, or is ignored as in A1111."""
        return (schedule == AUTOMATIC or self.ignores_schedule or self.kfunction is not None
                or schedule in self.schedules)


def _m(**kwargs: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(kwargs))


_DPMPP = dict(algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
              lower_order_final=True, euler_at_final=False, use_lu_lambdas=False, final_sigmas_type="zero")
_DPMPP_SDE = {**_DPMPP, "algorithm_type": "sde-dpmsolver++"}
_ALL = _SPACING | _SIGMAS
_GAUSSIAN = "draws Gaussian noise per step where k-diffusion uses a Brownian tree"
# A1111's timestep samplers build "every 1000//n-th timestep + 1" themselves.
_TIMESTEP_SAMPLER = dict(timestep_spacing="leading", steps_offset=1)

_K = "KDiffusionScheduler"  # pipelines.diffusion.kscheduler: any schedule, as in A1111

SAMPLERS: tuple[SamplerSpec, ...] = (
    SamplerSpec("DPM++ 2M", ("k_dpmpp_2m",), _K, default_schedule="Karras", kfunction="dpmpp_2m",
                a1111_options=_m(scheduler="karras")),
    SamplerSpec("DPM++ SDE", ("k_dpmpp_sde",), _K, default_schedule="Karras", stochastic=True, kfunction="dpmpp_sde",
                a1111_options=_m(scheduler="karras", second_order=True, brownian_noise=True),
                note=_GAUSSIAN),
    SamplerSpec("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), _K, default_schedule="Exponential", stochastic=True,
                kfunction="dpmpp_2m_sde", a1111_options=_m(scheduler="exponential", brownian_noise=True),
                note=_GAUSSIAN),
    SamplerSpec("DPM++ 2M SDE Heun", ("k_dpmpp_2m_sde_heun",), _K, default_schedule="Exponential", stochastic=True,
                kfunction="dpmpp_2m_sde_heun",
                a1111_options=_m(scheduler="exponential", brownian_noise=True, solver_type="heun"), note=_GAUSSIAN),
    SamplerSpec("DPM++ 2S a", ("k_dpmpp_2s_a",), _K, default_schedule="Karras", stochastic=True,
                kfunction="dpmpp_2s_ancestral", a1111_options=_m(scheduler="karras", uses_ensd=True, second_order=True)),
    SamplerSpec("DPM++ 3M SDE", ("k_dpmpp_3m_sde",), _K, default_schedule="Exponential", stochastic=True,
                kfunction="dpmpp_3m_sde",
                a1111_options=_m(scheduler="exponential", discard_next_to_last_sigma=True, brownian_noise=True),
                note=_GAUSSIAN),
    SamplerSpec("Euler a", ("k_euler_a", "k_euler_ancestral"), _K, stochastic=True, kfunction="euler_ancestral",
                a1111_options=_m(uses_ensd=True)),
    SamplerSpec("Euler", ("k_euler",), _K, kfunction="euler"),
    SamplerSpec("LMS", ("k_lms",), _K, kfunction="lms"),
    SamplerSpec("Heun", ("k_heun",), _K, kfunction="heun", a1111_options=_m(second_order=True)),
    SamplerSpec("DPM2", ("k_dpm_2",), _K, default_schedule="Karras", kfunction="dpm_2",
                a1111_options=_m(scheduler="karras", discard_next_to_last_sigma=True, second_order=True)),
    SamplerSpec("DPM2 a", ("k_dpm_2_a",), _K, default_schedule="Karras", stochastic=True, kfunction="dpm_2_ancestral",
                a1111_options=_m(scheduler="karras", discard_next_to_last_sigma=True, uses_ensd=True,
                                 second_order=True)),
    SamplerSpec("DPM fast", ("k_dpm_fast",), _K, stochastic=True, kfunction="dpm_fast",
                a1111_options=_m(uses_ensd=True)),
    SamplerSpec("DPM adaptive", ("k_dpm_ad",), _K, stochastic=True, kfunction="dpm_adaptive",
                a1111_options=_m(uses_ensd=True),
                note="makes as many model calls as its error control needs (progress counts up to a budget)"),
    SamplerSpec("Restart", ("restart",), _K, default_schedule="Karras", stochastic=True, kfunction="restart",
                a1111_options=_m(scheduler="karras", second_order=True)),
    SamplerSpec("DDIM", ("ddim",), "DDIMScheduler",
                _m(clip_sample=False, set_alpha_to_one=False, **_TIMESTEP_SAMPLER), ignores_schedule=True),
    SamplerSpec("DDIM CFG++", ("ddim_cfgpp",), "DDIMCFGPPScheduler",
                _m(clip_sample=False, set_alpha_to_one=False, **_TIMESTEP_SAMPLER), ignores_schedule=True),
    SamplerSpec("PLMS", ("plms",), "PNDMScheduler",
                _m(skip_prk_steps=True, set_alpha_to_one=False, **_TIMESTEP_SAMPLER), ignores_schedule=True),
    SamplerSpec("UniPC", ("unipc",), "UniPCMultistepScheduler",
                # A1111 defaults: uni_pc_variant "bh1", uni_pc_order 3, lower order final; diffusers'
                # bh1 turns every image into NaNs (black), so its default bh2 stands in.
                _m(solver_type="bh2", solver_order=3, lower_order_final=True, predict_x0=True,
                   **_TIMESTEP_SAMPLER), ignores_schedule=True),
    SamplerSpec("LCM", ("k_lcm", "lcm"), _K, stochastic=True, kfunction="lcm"),
    # Not in A1111; offered because diffusers has them.
    SamplerSpec("DEIS", ("deis",), "DEISMultistepScheduler", schedules=_ALL, in_a1111=False),
    SamplerSpec("DDPM", ("ddpm",), _K, stochastic=True, kfunction="ddpm", in_a1111=False),
)

# The sampler parameters each k-diffusion function takes (A1111's sampler_extra_params and
# the functions' ``eta`` argument); DDIM takes ``eta`` too (A1111's "Eta DDIM").
_ETA = frozenset({"euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
                  "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "dpm_fast", "dpm_adaptive"})
_CHURN = frozenset({"euler", "heun", "dpm_2"})
_S_NOISE = _CHURN | (_ETA - {"euler_ancestral", "dpm_adaptive"})
SAME_SAMPLER, SAME_SCHEDULER = "Use same sampler", "Use same scheduler"  # A1111's hires choices


def sampler_parameters(spec: "SamplerSpec") -> frozenset[str]:
    """Which of ``eta``, ``s_churn``, ``s_tmin``, ``s_tmax``, ``s_noise`` change ``spec``'s result."""
    function = spec.kfunction or ""
    taken = {"eta"} if function in _ETA or spec.name == "DDIM" else set()
    if function in _CHURN:
        taken |= {"s_churn", "s_tmin", "s_tmax"}
    if function in _S_NOISE:
        taken.add("s_noise")
    return frozenset(taken)


# Pre-1.9 names and aliases that carried the schedule in the sampler name.
LEGACY_ALIASES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "k_lms_ka": ("LMS", "Karras"),
    "k_dpm_2_ka": ("DPM2", "Karras"),
    "k_dpm_2_a_ka": ("DPM2 a", "Karras"),
    "k_dpmpp_2s_a_ka": ("DPM++ 2S a", "Karras"),
    "k_dpmpp_2m_ka": ("DPM++ 2M", "Karras"),
    "k_dpmpp_sde_ka": ("DPM++ SDE", "Karras"),
    "k_dpmpp_2m_sde_ka": ("DPM++ 2M SDE", "Karras"),
    "k_dpmpp_2m_sde_heun_ka": ("DPM++ 2M SDE Heun", "Karras"),
    "k_dpmpp_2m_sde_heun_exp": ("DPM++ 2M SDE Heun", "Exponential"),
    "k_dpmpp_3m_sde_ka": ("DPM++ 3M SDE", "Karras"),
    "k_dpmpp_3m_sde_exp": ("DPM++ 3M SDE", "Exponential"),
})

# Keys of a checkpoint's scheduler_config.json that describe the model, not the sampler.
MODEL_CONFIG_KEYS: tuple[str, ...] = (
    "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
    "prediction_type", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr",
    "clip_sample", "set_alpha_to_one", "sample_max_value", "thresholding",
)

_SAMPLERS_BY_NAME: Mapping[str, SamplerSpec] = MappingProxyType({s.name: s for s in SAMPLERS})


# --------------------------------------------------------------------------------------------
# Lookup
# --------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _find_sampler(name: str) -> Optional[SamplerSpec]:
    key = _fold(name)
    for spec in SAMPLERS:
        if key == _fold(spec.name) or any(key == _fold(a) for a in spec.aliases):
            return spec
    return None


def find_schedule(name: Optional[str]) -> Optional[ScheduleSpec]:
    """The schedule type named by label, internal name or alias (any case); None if unknown."""
    if name is None or not name.strip():
        return _SCHEDULES_BY_LABEL[AUTOMATIC]
    key = _fold(name)
    for spec in SCHEDULES:
        if key in (_fold(spec.label), _fold(spec.name), *(_fold(a) for a in spec.aliases)):
            return spec
    return None


def _split_legacy(name: str) -> Optional[tuple[SamplerSpec, str]]:
    """"DPM++ 2M Karras" -> (DPM++ 2M, "Karras"); also the old k_*_ka aliases."""
    legacy = LEGACY_ALIASES.get(name.strip().lower())
    if legacy is not None:
        return _SAMPLERS_BY_NAME[legacy[0]], legacy[1]
    folded = _fold(name)
    for schedule in SCHEDULES[1:]:
        for option in (schedule.label, schedule.name, *schedule.aliases):
            suffix = " " + _fold(option)
            if folded.endswith(suffix):
                base = _find_sampler(folded[: -len(suffix)])
                if base is not None:
                    return base, schedule.label
    return None


def split_legacy_sampler_name(name: str) -> Optional[tuple[str, str]]:
    """(sampler, schedule label) when ``name`` carries a schedule ("DPM++ 2M Karras"), else None."""
    if not isinstance(name, str) or _find_sampler(name) is not None:
        return None
    legacy = _split_legacy(name)
    return None if legacy is None else (legacy[0].name, legacy[1])


def sampler_names() -> list[str]:
    """Every sampler name Atelier accepts, in A1111's order."""
    return [s.name for s in SAMPLERS]


def _unknown_sampler_message(name: str) -> str:
    return f"Unknown sampler {name!r}. Valid samplers: {', '.join(sampler_names())}"


def resolve_sampler(name: str, scheduler: Optional[str] = None) -> tuple[SamplerSpec, str]:
    """Canonical (sampler, schedule label) for an A1111 sampler/scheduler pair.

    Accepts names, aliases and legacy combined names in any case; a schedule carried in the
    sampler name wins over ``scheduler``, as in A1111. Raises UnknownSamplerError,
    UnknownScheduleError or UnsupportedScheduleError with the valid choices in the message.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownSamplerError(_unknown_sampler_message(str(name)))
    spec = _find_sampler(name)
    legacy = _split_legacy(name) if spec is None else None
    if spec is None and legacy is None:
        raise UnknownSamplerError(_unknown_sampler_message(name))
    if legacy is not None:
        spec, schedule = legacy
    else:
        schedule_spec = find_schedule(scheduler)
        if schedule_spec is None:
            labels = ", ".join(s.label for s in SCHEDULES)
            raise UnknownScheduleError(f"Unknown schedule type {scheduler!r}. Valid schedule types: {labels}")
        schedule = schedule_spec.label
    assert spec is not None

    if not spec.supports(schedule):
        valid = [AUTOMATIC] + [s.label for s in SCHEDULES if s.label in spec.schedules]
        reason = _SCHEDULES_BY_LABEL[schedule].note
        raise UnsupportedScheduleError(
            f"Schedule type {schedule!r} is not supported with sampler {spec.name!r}"
            + (f" ({reason})" if reason else "")
            + f". Supported schedule types: {', '.join(valid)}"
        )
    return spec, schedule


def effective_schedule(spec: SamplerSpec, schedule: str) -> str:
    """The schedule actually run: "Automatic" becomes the sampler's A1111 default.

    k-diffusion samplers without a default use the model's own sigmas (Uniform); A1111's
    timestep samplers always use their DDIM-style timesteps.
    """
    if spec.ignores_schedule:
        return "DDIM"
    if schedule != AUTOMATIC:
        return schedule
    if spec.default_schedule is not None:
        return spec.default_schedule
    if spec.kfunction is not None:
        return "Uniform"
    return AUTOMATIC


def infotext_schedule(spec: SamplerSpec, schedule: str) -> str:
    """The "Schedule type" A1111 1.10 writes: the resolved default label, else what was asked."""
    if schedule == AUTOMATIC and not spec.ignores_schedule and spec.default_schedule is not None:
        return spec.default_schedule
    return schedule


def normalize_sampler_and_schedule(
    sampler: Optional[str], schedule: Optional[str], *, convert_automatic: bool = True
) -> tuple[str, str]:
    """Canonical names for pasting an infotext; never raises (unknown names pass through).

    With ``convert_automatic`` a schedule equal to the sampler's default becomes "Automatic",
    as A1111's paste does.
    """
    sampler = (sampler or "").strip()
    found = find_schedule(schedule)
    label = found.label if found is not None else (schedule or AUTOMATIC).strip()
    spec = _find_sampler(sampler) if sampler else None
    if spec is None and sampler:
        legacy = _split_legacy(sampler)
        if legacy is not None:
            spec, label = legacy
    if spec is None:
        return sampler, label
    if convert_automatic and spec.default_schedule is not None and label == spec.default_schedule:
        label = AUTOMATIC
    return spec.name, label


# --------------------------------------------------------------------------------------------
# Building schedulers
# --------------------------------------------------------------------------------------------


def _scheduler_class(spec: SamplerSpec) -> type:
    if spec.scheduler_class == "DDIMCFGPPScheduler":
        from pipelines.diffusion.cfgpp import DDIMCFGPPScheduler

        return DDIMCFGPPScheduler
    import diffusers

    return getattr(diffusers, spec.scheduler_class)


def _accepted_keys(cls: type) -> frozenset[str]:
    return frozenset(p for p in inspect.signature(cls.__init__).parameters if p != "self")


def scheduler_config(spec: SamplerSpec, schedule: str, base_config: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor kwargs: model keys of ``base_config``, then sampler, then schedule overrides."""
    accepted = _accepted_keys(_scheduler_class(spec))
    config: dict[str, Any] = {k: base_config[k] for k in MODEL_CONFIG_KEYS if k in base_config}
    config.update(spec.overrides)
    for flag in _SIGMA_FLAGS:  # a checkpoint's DPM++ config may carry use_karras_sigmas=True
        config[flag] = False
    schedule_spec = _SCHEDULES_BY_LABEL[effective_schedule(spec, schedule)]
    if schedule_spec.config is not None:
        config.update(schedule_spec.config)
    return {k: v for k, v in config.items() if k in accepted}


def make_scheduler(sampler_name: str, schedule: Optional[str], base_config: Mapping[str, Any], *,
                   is_sdxl: bool = False, options: Optional["SamplerOptions"] = None) -> Any:
    """A fresh scheduler for an A1111 sampler + schedule type: k-diffusion samplers run any
    schedule through :class:`KDiffusionScheduler`, the others are diffusers schedulers.

    ``base_config`` is the checkpoint's scheduler_config.json (betas, num_train_timesteps,
    prediction_type, ...); its prediction_type is kept so v-prediction models stay correct.
    ``is_sdxl`` picks Align Your Steps' table; ``options`` are eta / s_churn / s_noise ....
    """
    spec, label = resolve_sampler(sampler_name, schedule)
    if spec.kfunction is not None:
        from pipelines.diffusion.kscheduler import KDiffusionScheduler, KSamplerSetup
        from pipelines.diffusion.ksampling import SamplerOptions

        setup = KSamplerSetup(
            function=spec.kfunction, schedule=_SCHEDULES_BY_LABEL[effective_schedule(spec, label)].name,
            discard_penultimate=bool(spec.a1111_options.get("discard_next_to_last_sigma")), is_sdxl=is_sdxl,
            options=options if options is not None else SamplerOptions())
        return KDiffusionScheduler(setup, {k: base_config[k] for k in MODEL_CONFIG_KEYS if k in base_config})
    return _scheduler_class(spec)(**scheduler_config(spec, label, base_config))


# --------------------------------------------------------------------------------------------
# A1111 API listings
# --------------------------------------------------------------------------------------------


def list_samplers() -> list[dict[str, Any]]:
    """Entries shaped like A1111's GET /sdapi/v1/samplers."""
    return [{"name": s.name, "aliases": list(s.aliases), "options": dict(s.a1111_options)} for s in SAMPLERS]


def list_schedulers() -> list[dict[str, Any]]:
    """Entries shaped like A1111's GET /sdapi/v1/schedulers (all twelve, A1111's order)."""
    return [
        {
            "name": s.name,
            "label": s.label,
            "aliases": list(s.aliases) or None,
            "default_rho": s.default_rho,
            "need_inner_model": s.need_inner_model,
        }
        for s in SCHEDULES
    ]
