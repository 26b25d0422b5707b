"""What every script shares: many engine jobs under one JobControl, and one result object.

A script (X/Y/Z plot, prompt matrix, prompts from file) is one queued job that runs several
ordinary engine requests. Each request goes through the normal engine path (saving, infotext,
LoRA application), so a script never generates on its own; this module only chains them:
one progress bar over all of them, interrupt between them, models put back afterwards.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pydantic
from PIL import Image

from pipelines.diffusion.engine import GenerationEngine, GenerationResult
from pipelines.diffusion.request import GenerationRequest, Img2ImgRequest
from pipelines.jobs import JobControl, Progress
from pipelines.models.catalog import CheckpointInfo

log = logging.getLogger(__name__)


def job_kind(request: GenerationRequest) -> str:
    """"txt2img" or "img2img": the output folder and the engine entry point."""
    return "img2img" if isinstance(request, Img2ImgRequest) else "txt2img"


def with_fields(request: GenerationRequest, **fields: Any) -> GenerationRequest:
    """A validated copy of ``request`` with ``fields`` changed.

    Rebuilding the model (instead of assigning) validates the fields together and never
    leaves a half-changed request behind when one value is rejected.
    """
    data = {name: getattr(request, name) for name in type(request).model_fields}
    data.update(fields)
    return type(request)(**data)


def error_reason(exc: Exception) -> str:
    """A one-line message for ``exc``; pydantic's field errors without their boilerplate."""
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
    return str(exc)


def closest_checkpoint(engine: GenerationEngine, query: str) -> CheckpointInfo:
    """A1111's get_closet_checkpoint_match: any known name, else the shortest title containing
    ``query``; ValueError naming the choices when nothing matches or the file is unusable."""
    catalog = engine.manager.catalog
    try:
        info = catalog.find_checkpoint(query)
    except LookupError:
        found = sorted((i for i in catalog.checkpoints if query and query in i.title), key=lambda i: len(i.title))
        if not found:
            names = ", ".join(sorted((i.title for i in catalog.usable_checkpoints()), key=str.casefold)) or "none"
            raise ValueError(f"unknown checkpoint {query!r}; available: {names}") from None
        info = found[0]
    if not info.usable:
        raise ValueError(f"checkpoint {query!r} cannot be used: {info.error}")
    return info


def steps_per_job(engine: GenerationEngine, request: GenerationRequest) -> int:
    """Sampling steps the engine will report for ``request`` (all batches)."""
    return engine.steps_per_batch(request) * request.n_iter


@dataclass
class ScriptResult(GenerationResult):
    """A script's images, grids first (A1111's ``index_of_first_image``), then the cells.

    Lists are aligned per image: ``images[i]`` has ``infotexts[i]``, ``seeds[i]``,
    ``prompts[i]``. ``cells`` keeps every engine result (also those whose images are not
    returned); ``paths`` holds the saved grid files first, then every saved cell image.
    """

    prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    grid_paths: list[Path] = field(default_factory=list)
    cells: list[GenerationResult] = field(default_factory=list)

    def add(self, image: Image.Image, infotext: str, seed: int, subseed: int, prompt: str,
            negative_prompt: str) -> None:
        self.images.append(image)
        self.infotexts.append(infotext)
        self.seeds.append(seed)
        self.subseeds.append(subseed)
        self.prompts.append(prompt)
        self.negative_prompts.append(negative_prompt)

    def add_cell_images(self, cell: GenerationResult) -> None:
        req = cell.request
        for image, text, seed, sub in zip(cell.images, cell.infotexts, cell.seeds, cell.subseeds):
            self.add(image, text, seed, sub, req.prompt, req.negative_prompt)

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(all_prompts=self.prompts, all_negative_prompts=self.negative_prompts,
                    index_of_first_image=self.grid_count)
        return info


def adopt_first_cell(result: ScriptResult, cells: list[GenerationResult]) -> None:
    """Take request, model and warnings from the cells, as A1111 copies its first Processed."""
    done = [c for c in cells if c is not None]
    if done:
        first = done[0]
        result.request = first.request
        result.model_name, result.model_hash, result.vae_name = first.model_name, first.model_hash, first.vae_name
    for cell in done:
        result.warnings += [w for w in cell.warnings if w not in result.warnings]
        result.paths += cell.paths
    result.cells = done


class JobChain:
    """Runs engine jobs one after another under one parent JobControl.

    The parent shows one progress bar over ``total_steps`` (all jobs); each job gets a child
    control that shares the parent's interrupt and skip flags, so interrupt stops the running
    job and the chain, and skip ends the current batch only (as A1111).
    """

    def __init__(self, engine: GenerationEngine, control: JobControl, total_steps: int, title: str) -> None:
        self.engine, self.control, self.title = engine, control, title
        self.total_steps, self.offset = max(1, total_steps), 0
        control.start(self.total_steps, 1, textinfo=title)

    @property
    def interrupted(self) -> bool:
        return self.control.interrupted.is_set()

    def run(self, request: GenerationRequest, label: str) -> GenerationResult:
        """One engine job; progress lands on the parent, offset by the jobs before it."""
        offset = self.offset
        parent = self.control

        def forward(progress: Progress) -> None:
            done = offset + progress.batch * progress.total_steps + progress.step
            parent.step(min(done, self.total_steps), batch=0, preview=progress.preview)

        child = JobControl(interrupted=parent.interrupted, skipped=parent.skipped,
                           preview_every=parent.preview_every, listeners=[forward])
        parent.progress.textinfo = f"{self.title}: {label}"
        try:
            if isinstance(request, Img2ImgRequest):
                return self.engine.img2img(request, child)
            return self.engine.txt2img(request, child)
        finally:
            self.offset = offset + steps_per_job(self.engine, request)
            parent.step(min(self.offset, self.total_steps), batch=0)


@contextlib.contextmanager
def models_restored(engine: GenerationEngine, checkpoint: bool, vae: bool) -> Iterator[None]:
    """Put back the current checkpoint and/or VAE choice after a script switched them.

    Both are still cached, so this costs a device move at most. A failure to restore is
    logged, never raised: the script's own result or error matters more.
    """
    manager = engine.manager
    model = manager.current.info.path if manager.current is not None else None
    vae_choice = manager.vae_choice
    try:
        yield
    finally:
        try:
            if vae and manager.vae_choice != vae_choice:
                manager.set_vae(vae_choice)
            current = manager.current.info.path if manager.current is not None else None
            if checkpoint and model is not None and current != model:
                manager.checkpoint(str(model))
        except Exception:
            log.exception("could not restore the model after a script")


def blank_like(images: list[Optional[Image.Image]], fallback: tuple[int, int]) -> Image.Image:
    """A black tile for a cell that produced nothing (interrupted or failed), as A1111."""
    sized = next((im for im in images if im is not None), None)
    return Image.new("RGB", sized.size if sized is not None else fallback)
