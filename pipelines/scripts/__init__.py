"""A1111's built-in scripts: X/Y/Z plot, prompt matrix, prompts from file or textbox, and
(img2img only) SD upscale.

Each script is one job that chains ordinary engine requests (see :mod:`runner`), so every
image is made, saved and recorded exactly as a single request would be. The UI calls the
``run_*`` functions with typed options; the API passes A1111's ``script_name`` and
positional ``script_args`` to :func:`run_script`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from pipelines.diffusion.engine import GenerationEngine
from pipelines.diffusion.request import GenerationRequest
from pipelines.jobs import JobControl
from pipelines.scripts.axis_values import join_csv
from pipelines.scripts.prompt_matrix import PromptMatrixOptions, run_prompt_matrix
from pipelines.scripts.prompts_from_file import PromptsFromFileOptions, run_prompts_from_file
from pipelines.scripts.runner import ScriptResult, job_kind
from pipelines.scripts.sd_upscale import SdUpscaleOptions, run_sd_upscale
from pipelines.scripts.xyz_plot import (
    XyzAxis,
    XyzOptions,
    a1111_axis_label,
    axis_choices,
    find_axis_type,
    list_axis_types,
    run_xyz_plot,
)

__all__ = [
    "PromptMatrixOptions", "PromptsFromFileOptions", "SCRIPT_TITLES", "ScriptResult", "SdUpscaleOptions", "XyzAxis",
    "XyzOptions", "axis_choices", "list_axis_types", "run_prompt_matrix", "run_prompts_from_file", "run_script",
    "run_sd_upscale", "run_xyz_plot",
]

# A1111's titles; the API's script_name is any of them in any case. They are registered into
# ctx.scripts by the built-in extension extensions/builtin/scripts.
SCRIPT_TITLES = ("Prompt matrix", "Prompts from file or textbox", "X/Y/Z plot", "SD upscale")


def _arg(args: Sequence[Any], index: int, default: Any) -> Any:
    return args[index] if index < len(args) and args[index] is not None else default


def _flag(args: Sequence[Any], index: int, default: bool) -> bool:
    value = _arg(args, index, default)
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def _api_axis(args: Sequence[Any], at: int, kind: str, csv_mode: bool) -> XyzAxis:
    """(type index or label, values text, values dropdown) → XyzAxis, as A1111's run() reads them."""
    kind_of = _arg(args, at, 0)
    label = a1111_axis_label(int(kind_of), kind) if isinstance(kind_of, (int, float)) else str(kind_of)
    text, dropdown = _arg(args, at + 1, ""), _arg(args, at + 2, [])
    spec = find_axis_type(label)
    if spec.choices is not None and not csv_mode and dropdown:
        text = join_csv([str(v) for v in dropdown])  # A1111 reads choice axes from the dropdown
    return XyzAxis(spec.label, str(text))


def xyz_from_api(args: Sequence[Any], kind: str) -> tuple[XyzAxis, XyzAxis, XyzAxis, XyzOptions]:
    """A1111 1.10's X/Y/Z ``script_args``: 3 × (type, values, dropdown), draw_legend,
    include_lone_images, include_sub_grids, no_fixed_seeds, vary_seeds_x/y/z, margin_size,
    csv_mode. Pre-1.7 lists (no vary_seeds: 15 items) are read too."""
    legacy = len(args) <= 15
    flags = 9
    margin_at = flags + (4 if legacy else 7)
    csv_mode = _flag(args, margin_at + 1, False)
    axes = [_api_axis(args, at, kind, csv_mode) for at in (0, 3, 6)]
    options = XyzOptions(
        draw_legend=_flag(args, flags, True), include_sub_images=_flag(args, flags + 1, False),
        include_sub_grids=_flag(args, flags + 2, False), keep_random_seeds=_flag(args, flags + 3, False),
        vary_seeds_x=not legacy and _flag(args, flags + 4, False),
        vary_seeds_y=not legacy and _flag(args, flags + 5, False),
        vary_seeds_z=not legacy and _flag(args, flags + 6, False),
        margin_size=int(_arg(args, margin_at, 0)),
    )
    return axes[0], axes[1], axes[2], options


def run_script(engine: GenerationEngine, request: GenerationRequest, script_name: str,
               script_args: Sequence[Any] = (), control: Optional[JobControl] = None) -> ScriptResult:
    """Run A1111's ``script_name`` with its positional ``script_args`` (the API's shapes).

    ValueError for an unknown script or bad arguments, before anything is generated.
    """
    name, args = script_name.strip().casefold(), list(script_args or [])
    if name == "x/y/z plot":
        x, y, z, options = xyz_from_api(args, job_kind(request))
        return run_xyz_plot(engine, request, x, y, z, options, control)
    if name == "prompt matrix":
        options = PromptMatrixOptions(
            put_at_start=_flag(args, 0, False), different_seeds=_flag(args, 1, False),
            prompt_type=str(_arg(args, 2, "positive")), delimiter=str(_arg(args, 3, "comma")),
            margin_size=int(_arg(args, 4, 0)),
        )
        return run_prompt_matrix(engine, request, options, control)
    if name == "prompts from file or textbox":
        # 1.10: iterate, same seed, position, text; before 1.8 there was no position.
        text_at = 3 if len(args) >= 4 else 2
        options = PromptsFromFileOptions(
            iterate_seed=_flag(args, 0, False), same_seed=_flag(args, 1, False),
            prompt_position=str(_arg(args, 2, "start")) if text_at == 3 else "start",
        )
        return run_prompts_from_file(engine, request, str(_arg(args, text_at, "")), options, control)
    if name == "sd upscale":
        # A1111: [info (ignored), overlap, upscaler index or name, scale factor]
        options = SdUpscaleOptions(overlap=int(_arg(args, 1, 64)), upscaler=_arg(args, 2, 0),
                                   scale_factor=float(_arg(args, 3, 2.0)))
        return run_sd_upscale(engine, request, options, control)
    raise ValueError(f"unknown script {script_name!r}; available: {', '.join(SCRIPT_TITLES)}")
