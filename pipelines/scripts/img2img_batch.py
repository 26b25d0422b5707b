"""img2img "Batch" (A1111): every image of a folder through img2img, as one queued job.

Optional masks come from a second folder, matched by file name (any image extension), and
turn that image's job into an inpaint. Results go to an output folder under the input's
name, or to the normal img2img outputs when no output folder is given.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image

from pipelines.diffusion.engine import GenerationEngine, GenerationResult
from pipelines.diffusion.request import Img2ImgRequest
from pipelines.jobs import JobControl
from pipelines.scripts.runner import JobChain, ScriptResult, adopt_first_cell, steps_per_job, with_fields

log = logging.getLogger(__name__)

TITLE = "img2img batch"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class BatchFolders:
    """Validated folders of one batch run and the images found in the input folder."""

    inputs: list[Path]
    output_dir: Optional[Path]
    mask_dir: Optional[Path]
    masks: dict[str, Path] = field(default_factory=dict)

    def mask_for(self, image: Path) -> Optional[Path]:
        return self.masks.get(image.stem)


def _folder(text: str, what: str) -> Optional[Path]:
    text = (text or "").strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{what} must be an absolute path, got {text!r}")
    return path


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def plan_batch(input_dir: str, output_dir: str = "", mask_dir: str = "") -> BatchFolders:
    """Check the three folder fields; ValueError with a message a person can act on."""
    source = _folder(input_dir, "Input directory")
    if source is None:
        raise ValueError("Input directory is empty: enter the folder whose images img2img should process.")
    if not source.is_dir():
        raise ValueError(f"Input directory {source} does not exist or is not a folder.")
    inputs = _images_in(source)
    if not inputs:
        raise ValueError(f"Input directory {source} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    output = _folder(output_dir, "Output directory")
    if output is not None:
        if output.exists() and not output.is_dir():
            raise ValueError(f"Output directory {output} is a file, not a folder.")
        if output.resolve() == source.resolve():
            raise ValueError("Output directory must differ from the input directory (inputs would be overwritten).")
    masks_folder = _folder(mask_dir, "Inpaint batch mask directory")
    masks: dict[str, Path] = {}
    if masks_folder is not None:
        if not masks_folder.is_dir():
            raise ValueError(f"Inpaint batch mask directory {masks_folder} does not exist or is not a folder.")
        masks = {p.stem: p for p in _images_in(masks_folder)}
    return BatchFolders(inputs, output, masks_folder, masks)


def _open(path: Path, mode: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert(mode)


def first_image(folders: BatchFolders) -> Image.Image:
    """The first input, to build and validate the form's request before queueing."""
    return _open(folders.inputs[0], "RGB")


def run_img2img_batch(engine: GenerationEngine, base: Img2ImgRequest, folders: BatchFolders,
                      control: Optional[JobControl] = None) -> ScriptResult:
    """One engine job per input image (unreadable files are skipped with a warning)."""
    started = time.perf_counter()
    control = control or JobControl()
    per_image = steps_per_job(engine, base)
    chain = JobChain(engine, control, per_image * len(folders.inputs), TITLE)
    result = ScriptResult(request=base)
    cells: list[GenerationResult] = []
    for number, path in enumerate(folders.inputs, 1):
        if chain.interrupted:
            break
        mask_path = folders.mask_for(path)
        try:
            image = _open(path, "RGB")
            mask = _open(mask_path, "L") if mask_path is not None else None
        except OSError as exc:
            result.warnings.append(f"skipped {path.name}: {exc}")
            chain.offset += per_image
            continue
        request = with_fields(base, init_images=[image], mask=mask, save_images=folders.output_dir is None)
        cell = chain.run(request, f"{number} out of {len(folders.inputs)}: {path.name}")
        if folders.output_dir is not None:
            for index, (picture, text) in enumerate(zip(cell.images, cell.infotexts)):
                stem = path.stem if index == 0 else f"{path.stem}-{index}"
                cell.paths.append(engine.writer.save_exactly(picture, folders.output_dir, stem, text))
        cells.append(cell)
    adopt_first_cell(result, cells)  # keeps the skip warnings, adds the cells' own
    for cell in cells:
        result.add_cell_images(cell)
    result.interrupted = chain.interrupted
    result.seconds = time.perf_counter() - started
    return result
