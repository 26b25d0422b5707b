"""Prompts from file or textbox (A1111's ``scripts/prompts_from_file.py``): one job per line.

A line is a prompt, or A1111's command-line form, split with shlex::

    --prompt "a red fox" --negative_prompt "blurry" --steps 10 --seed 5 --sampler_name "Euler a"

``--prompt``/``--negative_prompt`` take every word up to the next ``--option``; the other
options take one value of A1111's type. Unlike A1111 (which falls back to using such a line
as a prompt), a line that starts with ``--`` and does not parse is an error naming the
line, and every line is checked before the first image. Output folders named in a line
(``--outpath_samples``) are ignored: a text file does not choose where files are written.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pipelines.diffusion.engine import GenerationEngine, GenerationResult
from pipelines.diffusion.request import GenerationRequest
from pipelines.diffusion.samplers import resolve_sampler, sampler_names, split_legacy_sampler_name
from pipelines.diffusion.seeds import resolve_seed
from pipelines.jobs import JobControl
from pipelines.scripts.runner import (
    JobChain,
    ScriptResult,
    adopt_first_cell,
    closest_checkpoint,
    error_reason,
    models_restored,
    steps_per_job,
    with_fields,
)

TITLE = "Prompts from file or textbox"
POSITIONS = ("start", "end")
_PROMPT_KEYS = ("prompt", "negative_prompt")


def _boolean(text: str) -> bool:
    folded = text.strip().lower()
    if folded in ("true", "yes", "1"):
        return True
    if folded in ("false", "no", "0"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


# A1111's prompt_tags: the options a line may set, with their types.
LINE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "sd_model": str,
    "outpath_samples": str,
    "outpath_grids": str,
    "prompt_for_display": str,
    "prompt": str,
    "negative_prompt": str,
    "styles": str,
    "seed": _whole,
    "subseed_strength": _number,
    "subseed": _whole,
    "seed_resize_from_h": _whole,
    "seed_resize_from_w": _whole,
    "sampler_index": _whole,
    "sampler_name": str,
    "batch_size": _whole,
    "n_iter": _whole,
    "steps": _whole,
    "cfg_scale": _number,
    "width": _whole,
    "height": _whole,
    "restore_faces": _boolean,
    "tiling": _boolean,
    "do_not_save_samples": _boolean,
    "do_not_save_grid": _boolean,
}
# Accepted for compatibility, with no effect here.
_IGNORED = ("outpath_samples", "outpath_grids", "prompt_for_display", "do_not_save_grid")
_UNAVAILABLE = ("restore_faces", "tiling")


@dataclass(frozen=True)
class PromptsFromFileOptions:
    """A1111's controls for this script."""

    iterate_seed: bool = False  # "Iterate seed every line": seed += batch size × count per line
    same_seed: bool = False  # "Use same random seed for all lines"
    prompt_position: str = "start"  # "Insert prompts at the": where a line's prompt joins the base prompt


@dataclass(frozen=True)
class PromptLine:
    """One non-empty line: its number in the text and its options (A1111 keys, typed)."""

    number: int
    text: str
    options: dict[str, Any]


def parse_line(line: str) -> dict[str, Any]:
    """Options of one line; a line not starting with ``--`` is just a prompt."""
    line = line.strip()
    if not line.startswith("--"):
        return {"prompt": line}
    try:
        args = shlex.split(line)
    except ValueError as exc:
        raise ValueError(f"cannot split it like a command line ({exc})") from None
    options: dict[str, Any] = {}
    pos = 0
    while pos < len(args):
        arg = args[pos]
        if not arg.startswith("--"):
            raise ValueError(f'expected an option starting with "--", got {arg!r}')
        key = arg[2:]
        if key not in LINE_OPTIONS:
            raise ValueError(f"unknown option {arg}; allowed: {', '.join('--' + k for k in LINE_OPTIONS)}")
        if pos + 1 >= len(args):
            raise ValueError(f"missing value for {arg}")
        if key in _PROMPT_KEYS:  # every word up to the next option
            end = pos + 1
            while end + 1 < len(args) and not args[end + 1].startswith("--"):
                end += 1
            options[key] = " ".join(args[pos + 1:end + 1])
            pos = end + 1
            continue
        try:
            options[key] = LINE_OPTIONS[key](args[pos + 1])
        except ValueError as exc:
            raise ValueError(f"{arg}: {exc}") from None
        pos += 2
    return options


def parse_lines(text: str) -> list[PromptLine]:
    """Every non-empty line parsed; ValueError naming the first bad line."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            lines.append(PromptLine(number, raw.strip(), parse_line(raw)))
        except ValueError as exc:
            raise ValueError(f"line {number} ({raw.strip()!r}): {exc}") from None
    return lines


def _sampler_fields(key: str, value: Any) -> dict[str, Any]:
    if key == "sampler_index":
        names = sampler_names()
        if not 0 <= value < len(names):
            raise ValueError(f"--sampler_index {value} is out of range 0-{len(names) - 1}")
        return {"sampler_name": names[value]}
    legacy = split_legacy_sampler_name(value)  # "DPM++ 2M Karras": both fields, as A1111 1.9+
    if legacy is not None:
        return {"sampler_name": legacy[0], "scheduler": legacy[1]}
    return {"sampler_name": resolve_sampler(value)[0].name}


def _request_fields(engine: GenerationEngine, options: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """Request fields for a line's options (prompts are joined by the caller)."""
    fields: dict[str, Any] = {}
    for key, value in options.items():
        if key in _PROMPT_KEYS or key in _IGNORED:
            continue
        if key in _UNAVAILABLE:
            if value:
                warnings.append(f"--{key} is not available in Atelier and was ignored")
        elif key == "sd_model":
            fields["checkpoint"] = closest_checkpoint(engine, value).name
        elif key in ("sampler_name", "sampler_index"):
            fields.update(_sampler_fields(key, value))
        elif key == "styles":
            fields["styles"] = [name.strip() for name in value.split(",") if name.strip()]
        elif key == "do_not_save_samples":
            fields["save_images"] = not value
        else:
            fields[key] = value
    return fields


def _joined(line_text: Optional[str], base_text: str, position: str) -> Optional[str]:
    """A1111 1.10: a line's prompt goes before or after the base prompt when both exist."""
    if not line_text or not base_text:
        return line_text
    return f"{line_text} {base_text}" if position == "start" else f"{base_text} {line_text}"


def plan_requests(engine: GenerationEngine, base_request: GenerationRequest, text: str,
                  options: PromptsFromFileOptions = PromptsFromFileOptions()
                  ) -> tuple[list[GenerationRequest], list[str]]:
    """One validated request per line, seeds assigned; ValueError naming the first bad line."""
    if options.prompt_position not in POSITIONS:
        raise ValueError(f"unknown prompt position {options.prompt_position!r}; use start or end")
    lines = parse_lines(text)
    if not lines:
        raise ValueError("the list of prompts is empty")
    base = base_request
    if (options.iterate_seed or options.same_seed) and base.seed == -1:
        base = with_fields(base, seed=resolve_seed(-1))
    seed, requests, warnings = base.seed, [], []
    for line in lines:
        try:
            fields = _request_fields(engine, line.options, warnings)
            for key in _PROMPT_KEYS:
                joined = _joined(line.options.get(key), getattr(base, key), options.prompt_position)
                if joined is not None:
                    fields[key] = joined
            fields.setdefault("seed", seed)
            requests.append(with_fields(base, **fields))
        except ValueError as exc:
            raise ValueError(f"line {line.number} ({line.text!r}): {error_reason(exc)}") from None
        if options.iterate_seed:
            seed += base.batch_size * base.n_iter  # A1111 steps by the base request's count
    return requests, warnings


def run_prompts_from_file(engine: GenerationEngine, base_request: GenerationRequest, text: str,
                          options: PromptsFromFileOptions = PromptsFromFileOptions(),
                          control: Optional[JobControl] = None) -> ScriptResult:
    """Run every line as its own engine job, in order; all images returned (no grid, as A1111)."""
    started = time.perf_counter()
    control = control or JobControl()
    requests, warnings = plan_requests(engine, base_request, text, options)
    chain = JobChain(engine, control, sum(steps_per_job(engine, r) for r in requests), TITLE)
    switches_model = any(r.checkpoint != base_request.checkpoint for r in requests)
    cells: list[GenerationResult] = []
    with models_restored(engine, checkpoint=switches_model, vae=False):
        for number, request in enumerate(requests, 1):
            if chain.interrupted:
                break
            cells.append(chain.run(request, f"{number} out of {len(requests)}"))
    result = ScriptResult(request=base_request, interrupted=chain.interrupted, warnings=warnings)
    adopt_first_cell(result, cells)
    for cell in cells:
        result.add_cell_images(cell)
    result.seconds = time.perf_counter() - started
    return result
