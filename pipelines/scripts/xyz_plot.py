"""X/Y/Z plot (A1111's ``scripts/xyz_grid.py``): one image per combination of up to three axes.

Behaviour follows A1111 1.10: axis types by label, values parsed by :mod:`axis_values`,
a base seed of -1 fixed once so every cell shares it (unless "Keep -1 for seeds"), -1 in a
Seed axis fixed once per value, axes applied X then Y then Z to a copy of the request, the
costly axes (checkpoint, VAE) iterated outermost so each model is switched to once, one
labelled grid per Z value and a Z super-grid, grid infotexts with ``Script``/``X Type``/
``X Values``, grids first in the result. Unlike A1111 every value and every cell's request is
validated before the first image (A1111 finds a bad sampler or a Prompt S/R miss mid-grid).

Every cell runs through the engine's normal path, so it is saved with its own infotext and
reuses the loaded pipeline exactly as a single request would.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from itertools import permutations, product
from typing import Any, Callable, Optional, Sequence

from PIL import Image

from pipelines.diffusion.engine import VERSION, GenerationEngine, GenerationResult
from pipelines.diffusion.infotext import format_infotext, generation_params
from pipelines.diffusion.request import GenerationRequest
from pipelines.diffusion.samplers import find_schedule, list_schedulers, resolve_sampler, sampler_names
from pipelines.diffusion.seeds import resolve_seed
from pipelines.jobs import JobControl
from pipelines.models.manager import VAE_AUTOMATIC, VAE_NONE
from pipelines.scripts import axis_values as av
from pipelines.scripts.grid import GridLabel, image_grid, labelled_grid, plain_labels
from pipelines.scripts.runner import (
    JobChain,
    ScriptResult,
    adopt_first_cell,
    blank_like,
    closest_checkpoint,
    error_reason,
    job_kind,
    models_restored,
    steps_per_job,
    with_fields,
)

log = logging.getLogger(__name__)

TITLE = "X/Y/Z plot"
NOTHING = "Nothing"
SEED_AXES = ("Seed", "Var. seed")
# A1111's img_max_size_mp default: refuse grids that would not fit in memory.
MAX_GRID_MEGAPIXELS = 200.0


@dataclass(frozen=True)
class XyzAxis:
    """One axis as the user typed it: an axis type label and its values text."""

    type: str = NOTHING
    values: str = ""


@dataclass(frozen=True)
class XyzOptions:
    """A1111's X/Y/Z plot checkboxes, plus where grids go."""

    draw_legend: bool = True
    include_sub_images: bool = False  # A1111 "Include Sub Images": cells in the returned images
    include_sub_grids: bool = False  # A1111 "Include Sub Grids": per-Z grids returned and saved
    keep_random_seeds: bool = False  # A1111 "Keep -1 for seeds"
    vary_seeds_x: bool = False
    vary_seeds_y: bool = False
    vary_seeds_z: bool = False
    margin_size: int = 0
    save_grid: bool = True  # A1111's grid_save setting (also needs the request's save_images)
    max_grid_megapixels: float = MAX_GRID_MEGAPIXELS


# --------------------------------------------------------------------------------------------
# Axis types
# --------------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """A cell's request while the axes are applied; the VAE is switched around the job."""

    request: GenerationRequest
    vae: Optional[str] = None

    def set(self, **fields: Any) -> None:
        self.request = with_fields(self.request, **fields)


Apply = Callable[[_Draft, Any, Sequence[Any]], None]
Check = Callable[[GenerationEngine, Any], Any]


def _number_text(value: Any) -> str:
    return str(round(value, 8) if isinstance(value, float) else value)


@dataclass(frozen=True)
class AxisType:
    """One entry of the axis dropdown: how to parse, check, apply and label its values."""

    label: str
    parse: Callable[[str], list]
    apply: Apply
    check: Optional[Check] = None  # validates one value, returns it normalised
    choices: Optional[Callable[[GenerationEngine], list[str]]] = None
    legend: str = "field"  # "field": "Steps: 20"; "value": "20"; "basename"; "join"; "none"
    cost: float = 0.0  # the costlier an axis, the further out it is iterated
    only: Optional[str] = None  # "txt2img" / "img2img" where A1111 offers it on one tab only

    def label_for(self, value: Any) -> str:
        if self.legend == "none":
            return ""
        if self.legend == "join":
            return ", ".join(value)
        if self.legend == "basename":
            return re.split(r"[\\/]", str(value))[-1]
        if isinstance(value, tuple) and len(value) == 2:  # sizes
            value = f"{value[0]}x{value[1]}"
        text = _number_text(value)
        return f"{self.label}: {text}" if self.legend == "field" else text


def _field(name: str) -> Apply:
    def apply(draft: _Draft, value: Any, values: Sequence[Any]) -> None:
        draft.set(**{name: value})
    return apply


def _nothing(draft: _Draft, value: Any, values: Sequence[Any]) -> None:
    return None


def _replace(draft: _Draft, value: str, values: Sequence[str]) -> None:
    """Prompt S/R: the first value is searched for and replaced by each value in turn."""
    search, req = values[0], draft.request
    if search not in req.prompt and search not in req.negative_prompt:
        raise ValueError(f"Prompt S/R did not find {search!r} in the prompt or negative prompt")
    draft.set(prompt=req.prompt.replace(search, value), negative_prompt=req.negative_prompt.replace(search, value))


def _parse_replacements(text: str) -> list[str]:
    values = av.parse_strings(text)
    if not values[0]:
        raise ValueError("the first Prompt S/R value is the text to search for; it cannot be empty")
    return values


def _parse_orders(text: str) -> list[tuple[str, ...]]:
    tokens = [t for t in av.parse_strings(text) if t]
    if len(tokens) > 7:  # 8! = 40320 cells
        raise ValueError(f"Prompt order with {len(tokens)} items would make too many permutations (max 7 items)")
    return list(permutations(tokens))


def _reorder(draft: _Draft, order: tuple[str, ...], values: Sequence[Any]) -> None:
    """Prompt order: put the tokens into the prompt in ``order``, where they stood before."""
    prompt = draft.request.prompt
    missing = [token for token in order if token not in prompt]
    if missing:
        raise ValueError(f"Prompt order did not find {', '.join(map(repr, missing))} in the prompt")
    parts, rest = [], prompt
    for token in sorted(order, key=prompt.find):
        at = rest.find(token)
        parts.append(rest[:at])
        rest = rest[at + len(token):]
    draft.set(prompt="".join(part + token for part, token in zip(parts, order)) + rest)


def _set_size(draft: _Draft, value: tuple[int, int], values: Sequence[Any]) -> None:
    draft.set(width=value[0], height=value[1])


def _set_vae(draft: _Draft, value: str, values: Sequence[Any]) -> None:
    draft.vae = value


def _add_styles(draft: _Draft, value: str, values: Sequence[Any]) -> None:
    draft.set(styles=[*draft.request.styles, *_style_names(value)])


def _style_names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _check_sampler(engine: GenerationEngine, value: str) -> str:
    resolve_sampler(value)
    return value


def _check_schedule(engine: GenerationEngine, value: str) -> str:
    spec = find_schedule(value)
    if spec is None:
        raise ValueError(f"unknown schedule type {value!r}; valid: {', '.join(_schedule_labels(engine))}")
    return spec.label


def _check_checkpoint(engine: GenerationEngine, value: str) -> str:
    return closest_checkpoint(engine, value).name


def _check_refiner(engine: GenerationEngine, value: str) -> Optional[str]:
    return None if value.strip().lower() in ("", "none") else _check_checkpoint(engine, value)


def _check_vae(engine: GenerationEngine, value: str) -> str:
    folded = value.strip().casefold()
    if folded in ("auto", "automatic"):
        return VAE_AUTOMATIC
    if folded == "none":
        return VAE_NONE
    vaes = engine.manager.catalog.usable_vaes()
    for vae in vaes:
        if vae.matches(value) or folded in (vae.name.casefold(), vae.path.stem.casefold()):
            return vae.name
    names = ", ".join([VAE_AUTOMATIC, VAE_NONE, *(v.name for v in vaes)])
    raise ValueError(f"unknown VAE {value!r}; available: {names}")


def _check_upscaler(engine: GenerationEngine, value: str) -> str:
    for name in _upscalers(engine):
        if name.casefold() == value.strip().casefold():
            return name
    raise ValueError(f"unknown hires upscaler {value!r}; available: {', '.join(_upscalers(engine))}")


def _check_styles(engine: GenerationEngine, value: str) -> str:
    if engine.styles is not None:
        missing = engine.styles.missing(_style_names(value))
        if missing:
            raise ValueError(f"unknown styles {', '.join(missing)}; available: {', '.join(engine.styles.names())}")
    return value


def _schedule_labels(engine: GenerationEngine) -> list[str]:
    return [s["label"] for s in list_schedulers()]


def _checkpoint_titles(engine: GenerationEngine) -> list[str]:
    return sorted((i.title for i in engine.manager.catalog.usable_checkpoints()), key=str.casefold)


def _vae_choices(engine: GenerationEngine) -> list[str]:
    return [VAE_AUTOMATIC, VAE_NONE, *(v.name for v in engine.manager.catalog.usable_vaes())]


def _upscalers(engine: GenerationEngine) -> list[str]:
    return engine.hires_upscalers()


def _style_choices(engine: GenerationEngine) -> list[str]:
    return engine.styles.names() if engine.styles is not None else []


def _nothing_values(text: str) -> list[None]:
    return [None]


AXIS_TYPES: tuple[AxisType, ...] = (
    AxisType(NOTHING, _nothing_values, _nothing, legend="none"),
    AxisType("Seed", av.parse_ints, _field("seed")),
    AxisType("Var. seed", av.parse_ints, _field("subseed")),
    AxisType("Var. strength", av.parse_floats, _field("subseed_strength")),
    AxisType("Steps", av.parse_ints, _field("steps")),
    AxisType("Hires steps", av.parse_ints, _field("hr_second_pass_steps"), only="txt2img"),
    AxisType("CFG Scale", av.parse_floats, _field("cfg_scale")),
    AxisType("Prompt S/R", _parse_replacements, _replace, legend="value"),
    AxisType("Prompt order", _parse_orders, _reorder, legend="join"),
    AxisType("Sampler", av.parse_strings, _field("sampler_name"), _check_sampler,
             lambda engine: sampler_names(), legend="value"),
    AxisType("Checkpoint name", av.parse_strings, _field("checkpoint"), _check_checkpoint, _checkpoint_titles,
             legend="basename", cost=1.0),
    AxisType("Schedule type", av.parse_strings, _field("scheduler"), _check_schedule, _schedule_labels),
    AxisType("Clip skip", av.parse_ints, _field("clip_skip")),
    AxisType("Denoising", av.parse_floats, _field("denoising_strength")),
    AxisType("Hires upscaler", av.parse_strings, _field("hr_upscaler"), _check_upscaler, _upscalers,
             only="txt2img"),
    AxisType("VAE", av.parse_strings, _set_vae, _check_vae, _vae_choices, cost=0.7),
    AxisType("Styles", av.parse_strings, _add_styles, _check_styles, _style_choices),
    AxisType("Refiner checkpoint", av.parse_strings, _field("refiner_checkpoint"), _check_refiner,
             lambda engine: ["None", *_checkpoint_titles(engine)], legend="basename", cost=1.0),
    AxisType("Refiner switch at", av.parse_floats, _field("refiner_switch_at")),
    AxisType("Size", av.parse_sizes, _set_size),
)

# A1111 1.10's axis dropdowns, in order: the API's script_args name axes by index in these.
_A1111_AXES: tuple[tuple[str, Optional[str]], ...] = (
    (NOTHING, None), ("Seed", None), ("Var. seed", None), ("Var. strength", None), ("Steps", None),
    ("Hires steps", "txt2img"), ("CFG Scale", None), ("Image CFG Scale", "img2img"), ("Prompt S/R", None),
    ("Prompt order", None), ("Sampler", "txt2img"), ("Hires sampler", "txt2img"), ("Sampler", "img2img"),
    ("Checkpoint name", None), ("Negative Guidance minimum sigma", None), ("Sigma Churn", None),
    ("Sigma min", None), ("Sigma max", None), ("Sigma noise", None), ("Schedule type", None),
    ("Schedule min sigma", None), ("Schedule max sigma", None), ("Schedule rho", None), ("Skip Early CFG", None),
    ("Beta schedule alpha", None), ("Beta schedule beta", None), ("Eta", None), ("Clip skip", None),
    ("Denoising", None), ("Initial noise multiplier", None), ("Extra noise", None), ("Hires upscaler", "txt2img"),
    ("Cond. Image Mask Weight", "img2img"), ("VAE", None), ("Styles", None), ("UniPC Order", None),
    ("Face restore", None), ("Token merging ratio", None), ("Token merging ratio high-res", None),
    ("Always discard next-to-last sigma", None), ("SGM noise multiplier", None), ("Refiner checkpoint", None),
    ("Refiner switch at", None), ("RNG source", None), ("FP8 mode", None), ("Size", None),
)


def a1111_axis_label(index: int, kind: str = "txt2img") -> str:
    """The axis label A1111 1.10's API means by ``index`` on the ``kind`` tab."""
    labels = [label for label, only in _A1111_AXES if only in (None, kind)]
    if not 0 <= index < len(labels):
        raise ValueError(f"axis index {index} is out of range: A1111's {kind} X/Y/Z plot has {len(labels)} axis types")
    return labels[index]


def find_axis_type(label: str) -> AxisType:
    """The axis type named ``label`` (any case); ValueError listing the valid ones."""
    folded = str(label).strip().casefold()
    for axis_type in AXIS_TYPES:
        if axis_type.label.casefold() == folded:
            return axis_type
    raise ValueError(f"unknown or unsupported X/Y/Z plot axis type {label!r}; available: "
                     + ", ".join(list_axis_types()))


def list_axis_types(kind: Optional[str] = None) -> list[str]:
    """Axis type labels for the UI dropdown: all, or those of the ``kind`` tab."""
    return [t.label for t in AXIS_TYPES if kind is None or t.only in (None, kind)]


def axis_choices(ctx: Any, axis_type: str) -> Optional[list[str]]:
    """Values the UI can offer for ``axis_type`` (samplers, checkpoints, VAEs…); None: free text.

    ``ctx`` is the AtelierContext (or anything with an ``engine``), or the engine itself.
    """
    engine = getattr(ctx, "engine", ctx)
    spec = find_axis_type(axis_type)
    return spec.choices(engine) if spec.choices is not None else None


# --------------------------------------------------------------------------------------------
# Planning: every value and every cell request validated before the first image
# --------------------------------------------------------------------------------------------


@dataclass
class _Axis:
    name: str  # "X", "Y" or "Z"
    type: AxisType
    text: str
    values: list
    labels: list[str]

    @property
    def used(self) -> bool:
        return self.type.label != NOTHING


@dataclass
class _Cell:
    index: tuple[int, int, int]
    request: GenerationRequest
    vae: Optional[str]


def _resolve_axis(engine: GenerationEngine, name: str, axis: XyzAxis, kind: str, options: XyzOptions) -> _Axis:
    spec = find_axis_type(axis.type)
    if spec.only is not None and spec.only != kind:
        raise ValueError(f"{name} axis: {spec.label} is only available for {spec.only}")
    text = axis.values or ""
    try:
        raw = spec.parse(text)
        values = [spec.check(engine, value) if spec.check else value for value in raw]
    except ValueError as exc:
        raise ValueError(f"{name} axis ({spec.label}): {error_reason(exc)}") from None
    if spec.label in SEED_AXES and not options.keep_random_seeds:
        values = raw = [resolve_seed(v) for v in values]  # -1 fixed once per value (A1111)
    return _Axis(name, spec, text, values, [spec.label_for(v) for v in raw])


def _plan_cell(base: GenerationRequest, axes: Sequence[_Axis], index: tuple[int, int, int],
               options: XyzOptions, hires_upscalers: Sequence[str]) -> _Cell:
    draft = _Draft(base)
    for axis, i in zip(axes, index):
        try:
            axis.type.apply(draft, axis.values[i], axis.values)
        except ValueError as exc:
            shown = axis.labels[i] or repr(axis.values[i])
            raise ValueError(f"{axis.name} axis ({axis.type.label}) value {shown!r}: {error_reason(exc)}") from None
    req = draft.request
    try:
        resolve_sampler(req.sampler_name, req.scheduler)
        if req.enable_hr and req.hr_upscaler not in hires_upscalers:
            raise ValueError(f"unknown hires upscaler {req.hr_upscaler!r}")
    except ValueError as exc:
        where = ", ".join(f"{a.name}={a.labels[i] or a.values[i]}" for a, i in zip(axes, index) if a.used)
        raise ValueError(f"cell {where or '1'}: {exc}") from None
    if req.seed != -1:
        nx, ny = len(axes[0].values), len(axes[1].values)
        xdim, ydim = (nx if options.vary_seeds_x else 1), (ny if options.vary_seeds_y else 1)
        offset = (index[0] if options.vary_seeds_x else 0) + (index[1] * xdim if options.vary_seeds_y else 0) \
            + (index[2] * xdim * ydim if options.vary_seeds_z else 0)
        if offset:
            req = with_fields(req, seed=req.seed + offset)
    return _Cell(index, req, draft.vae)


def _iteration_order(axes: Sequence[_Axis]) -> list[int]:
    """Axis positions outermost first: costliest first, ties Z, Y, X as in A1111."""
    return sorted(range(3), key=lambda a: (-axes[a].type.cost, 2 - a))


def _plan(engine: GenerationEngine, base: GenerationRequest, axes: Sequence[_Axis],
          options: XyzOptions) -> list[_Cell]:
    """Cells in the order they will run (expensive axes outermost)."""
    order = _iteration_order(axes)
    hires_upscalers = engine.hires_upscalers()
    cells = []
    for combo in product(*(range(len(axes[a].values)) for a in order)):
        index = [0, 0, 0]
        for a, i in zip(order, combo):
            index[a] = i
        cells.append(_plan_cell(base, axes, (index[0], index[1], index[2]), options, hires_upscalers))
    megapixels = sum(c.request.width * c.request.height for c in cells) / 1e6
    if megapixels > options.max_grid_megapixels:
        raise ValueError(f"the grid would be {megapixels:.0f} megapixels; the limit is {options.max_grid_megapixels:g}")
    for name in {c.request.checkpoint for c in cells}:
        engine.manager.resolve(name)  # an unknown base checkpoint fails here, not in every cell
    return cells


# --------------------------------------------------------------------------------------------
# Running and drawing
# --------------------------------------------------------------------------------------------


def _cell_tile(result: Optional[GenerationResult]) -> Optional[Image.Image]:
    """What a cell shows in the grid: its image, or the grid of its batch (A1111 return_grid)."""
    if result is None or not result.images:
        return None
    return result.images[0] if len(result.images) == 1 else image_grid(result.images)


def _grid_infotext(cell: GenerationResult, axes: Sequence[_Axis], options: XyzOptions) -> str:
    """The cell's infotext plus A1111's Script / X Type / X Values (/ Fixed X Values) keys."""
    extra: dict[str, object] = {"Script": TITLE}
    for axis in axes:
        if not axis.used:
            continue
        extra[f"{axis.name} Type"] = axis.type.label
        extra[f"{axis.name} Values"] = axis.text
        if axis.type.label in SEED_AXES and not options.keep_random_seeds:
            extra[f"Fixed {axis.name} Values"] = ", ".join(str(v) for v in axis.values)
    req = cell.request
    params = generation_params(
        req, seed=cell.seeds[0], subseed=cell.subseeds[0], model_name=cell.model_name,
        model_hash=cell.model_hash, vae_name=cell.vae_name, version=VERSION, extra=extra,
    )
    return format_infotext(req.prompt, req.negative_prompt, params)


def run_xyz_plot(engine: GenerationEngine, base_request: GenerationRequest, x: XyzAxis, y: XyzAxis = XyzAxis(),
                 z: XyzAxis = XyzAxis(), options: XyzOptions = XyzOptions(),
                 control: Optional[JobControl] = None) -> ScriptResult:
    """Generate every X×Y×Z cell through ``engine`` and draw the labelled grid(s).

    Raises ValueError (naming the axis and value) before generating anything when a value
    is invalid. Returns grids first (the Z super-grid, or the X/Y grid when Z is Nothing;
    the per-Z grids with ``include_sub_grids``), then the cells' images with
    ``include_sub_images``; ``result.cells`` always holds every cell's engine result.
    """
    started = time.perf_counter()
    control = control or JobControl()
    kind = job_kind(base_request)
    axes = [_resolve_axis(engine, name, axis, kind, options) for name, axis in zip("XYZ", (x, y, z))]
    base = base_request
    if not options.keep_random_seeds:
        base = with_fields(base, seed=resolve_seed(base.seed), subseed=resolve_seed(base.subseed))
    cells = _plan(engine, base, axes, options)
    nx, ny, nz = (len(a.values) for a in axes)

    def flat(index: tuple[int, int, int]) -> int:
        return index[0] + index[1] * nx + index[2] * nx * ny

    results: list[Optional[GenerationResult]] = [None] * len(cells)
    failures: list[Exception] = []
    chain = JobChain(engine, control, sum(steps_per_job(engine, c.request) for c in cells), TITLE)
    uses = {a.type.label for a in axes}
    with models_restored(engine, checkpoint="Checkpoint name" in uses, vae="VAE" in uses):
        for number, cell in enumerate(cells, 1):
            if chain.interrupted:
                break
            try:
                if cell.vae is not None and engine.manager.vae_choice != cell.vae:
                    engine.manager.set_vae(cell.vae)
                results[flat(cell.index)] = chain.run(cell.request, f"{number} out of {len(cells)}")
            except Exception as exc:  # A1111 shows a failed cell as a blank tile and goes on
                log.warning("X/Y/Z plot cell %s failed: %s", cell.index, exc)
                failures.append(exc)
    if failures and not any(results):
        raise failures[0]

    result = ScriptResult(request=base, interrupted=chain.interrupted)
    adopt_first_cell(result, results)
    result.warnings += [f"a cell failed: {exc}" for exc in failures]
    if not any(results):
        result.seconds = time.perf_counter() - started
        return result
    _add_grids(engine, result, results, axes, options, kind)
    if options.include_sub_images:
        for cell_result in results:
            if cell_result is not None:
                result.add_cell_images(cell_result)
    result.seconds = time.perf_counter() - started
    return result


def _add_grids(engine: GenerationEngine, result: ScriptResult, results: list[Optional[GenerationResult]],
               axes: Sequence[_Axis], options: XyzOptions, kind: str) -> None:
    """Draw, save and add the grids (main first) to ``result``."""
    x, y, z = axes
    per_grid = len(x.values) * len(y.values)
    raw_tiles = [_cell_tile(r) for r in results]
    base = result.request
    tiles = [t if t is not None else blank_like(raw_tiles, (base.width, base.height)) for t in raw_tiles]
    sub_grids, sub_texts = [], []
    for iz in range(len(z.values)):
        chunk = slice(iz * per_grid, (iz + 1) * per_grid)
        sub_grids.append(labelled_grid(tiles[chunk], plain_labels(x.labels), plain_labels(y.labels),
                                       options.margin_size, options.draw_legend))
        first = next(r for r in [*results[chunk], *results] if r is not None)
        sub_texts.append(_grid_infotext(first, (x, y), options))
    if len(sub_grids) == 1:
        grids, texts = sub_grids, [_grid_infotext(result.cells[0], axes, options)]
    else:
        main = labelled_grid(sub_grids, plain_labels(z.labels), [[GridLabel()]], 0, options.draw_legend)
        grids, texts = [main], [_grid_infotext(result.cells[0], axes, options)]
        if options.include_sub_grids:
            grids, texts = grids + sub_grids, texts + sub_texts
    first = result.cells[0]
    for grid, text in zip(grids, texts):
        result.add(grid, text, first.seeds[0], first.subseeds[0], first.request.prompt, first.request.negative_prompt)
    result.grid_count = len(grids)
    if options.save_grid and base.save_images:
        result.grid_paths = [engine.writer.save_grid(grid, kind, text) for grid, text in zip(grids, texts)]
        result.paths = result.grid_paths + result.paths
