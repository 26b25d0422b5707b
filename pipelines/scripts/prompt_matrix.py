"""Prompt matrix (A1111's ``scripts/prompt_matrix.py``): every combination of optional parts.

``"a cat|in a hat|at night"`` makes 4 prompts: the first part alone, then with each subset
of the other parts appended (or put first), joined by ", " or " ". Image i has part k when
bit k of i is set; the grid puts the first half of the parts across and the rest down, and
its legend shows every part per column / row, struck through where it is left out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

from pipelines.diffusion.engine import GenerationEngine, GenerationResult
from pipelines.diffusion.request import GenerationRequest
from pipelines.diffusion.seeds import resolve_seed
from pipelines.jobs import JobControl
from pipelines.scripts.grid import GridLabel, labelled_grid
from pipelines.scripts.runner import JobChain, ScriptResult, adopt_first_cell, blank_like, job_kind, steps_per_job, with_fields

TITLE = "Prompt matrix"
PROMPT_TYPES = ("positive", "negative")
DELIMITERS = {"comma": ", ", "space": " "}
# 2**12 images: more parts than this is a typo, not a plan.
MAX_PARTS = 12


@dataclass(frozen=True)
class PromptMatrixOptions:
    """A1111's prompt matrix controls."""

    put_at_start: bool = False  # "Set at prompt start"
    different_seeds: bool = False  # "Random seeds": seed + i per image
    prompt_type: str = "positive"  # which prompt holds the "|" parts
    delimiter: str = "comma"  # "comma" or "space"
    margin_size: int = 0
    save_grid: bool = True


def matrix_prompts(prompt: str, put_at_start: bool = False, delimiter: str = "comma") -> list[str]:
    """All 2**(n-1) prompts of ``"base|part|part…"``, in A1111's order."""
    if delimiter not in DELIMITERS:
        raise ValueError(f"unknown joining delimiter {delimiter!r}; use one of {', '.join(DELIMITERS)}")
    parts = prompt.split("|")
    if len(parts) - 1 > MAX_PARTS:
        raise ValueError(f"prompt matrix with {len(parts) - 1} optional parts would make {2 ** (len(parts) - 1)} "
                         f"images; the limit is {MAX_PARTS} parts")
    prompts = []
    for combination in range(2 ** (len(parts) - 1)):
        chosen = [text.strip().strip(",") for n, text in enumerate(parts[1:]) if combination & (1 << n)]
        ordered = [*chosen, parts[0]] if put_at_start else [parts[0], *chosen]
        prompts.append(DELIMITERS[delimiter].join(ordered))
    return prompts


def _legend(parts: list[str]) -> tuple[list[list[GridLabel]], list[list[GridLabel]]]:
    """Column and row legends: first half of the parts across, the rest down (A1111)."""
    boundary = math.ceil(len(parts) / 2)
    across, down = parts[:boundary], parts[boundary:]

    def labels(group: list[str]) -> list[list[GridLabel]]:
        return [[GridLabel(text, bool(pos & (1 << i))) for i, text in enumerate(group)] for pos in range(1 << len(group))]

    return labels(across), labels(down)


def run_prompt_matrix(engine: GenerationEngine, base_request: GenerationRequest,
                      options: PromptMatrixOptions = PromptMatrixOptions(),
                      control: Optional[JobControl] = None) -> ScriptResult:
    """One image per combination (batch size 1 each), then the legend grid first in the result."""
    started = time.perf_counter()
    control = control or JobControl()
    if options.prompt_type not in PROMPT_TYPES:
        raise ValueError(f"unknown prompt type {options.prompt_type!r}; use positive or negative")
    field = "prompt" if options.prompt_type == "positive" else "negative_prompt"
    source = getattr(base_request, field)
    prompts = matrix_prompts(source, options.put_at_start, options.delimiter)
    seed, subseed = resolve_seed(base_request.seed), resolve_seed(base_request.subseed)
    requests = [
        with_fields(base_request, **{field: text}, seed=seed + (i if options.different_seeds else 0),
                    subseed=subseed + i, batch_size=1, n_iter=1)
        for i, text in enumerate(prompts)
    ]
    chain = JobChain(engine, control, sum(steps_per_job(engine, r) for r in requests), TITLE)
    cells: list[Optional[GenerationResult]] = []
    for i, request in enumerate(requests, 1):
        if chain.interrupted:
            break
        cells.append(chain.run(request, f"{i} out of {len(requests)}"))

    result = ScriptResult(request=base_request, interrupted=chain.interrupted)
    adopt_first_cell(result, cells)
    if cells:
        tiles = [c.images[0] for c in cells]
        tiles += [blank_like(tiles, (base_request.width, base_request.height))] * (len(prompts) - len(tiles))
        columns, rows = _legend(source.split("|")[1:])
        grid = labelled_grid(tiles, columns, rows, options.margin_size)
        first = cells[0]
        text = first.infotexts[0]  # A1111 gives the grid the first image's infotext
        result.add(grid, text, first.seeds[0], first.subseeds[0], base_request.prompt, base_request.negative_prompt)
        result.grid_count = 1
        if options.save_grid and base_request.save_images:
            result.grid_paths = [engine.writer.save_grid(grid, job_kind(base_request), text, "prompt_matrix")]
            result.paths = result.grid_paths + result.paths
        for cell in cells:
            result.add_cell_images(cell)
    result.seconds = time.perf_counter() - started
    return result
