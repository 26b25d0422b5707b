"""SD upscale (A1111's ``scripts/sd_upscale.py``): upscale, then redraw the picture tile by tile.

The init image is enlarged with a pixel upscaler, cut into overlapping tiles of the request's
width × height, each tile goes through img2img, and the tiles are blended back along their
overlaps. A1111's seeds are kept: batch ``i`` of upscale ``n`` starts at ``seed + n + i``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
from PIL import Image

from pipelines.diffusion.engine import GenerationEngine, GenerationResult
from pipelines.diffusion.request import GenerationRequest, Img2ImgRequest
from pipelines.diffusion.seeds import resolve_seed
from pipelines.jobs import JobControl
from pipelines.scripts.runner import JobChain, ScriptResult, adopt_first_cell, steps_per_job, with_fields

TITLE = "SD upscale"
MAX_OVERLAP = 256


@dataclass(frozen=True)
class SdUpscaleOptions:
    """A1111's controls; ``upscaler`` is a name or an index into the pixel upscalers list."""

    overlap: int = 64
    upscaler: Union[str, int] = "None"
    scale_factor: float = 2.0


@dataclass
class TileGrid:
    """A1111's ``images.Grid``: rows of (x, tile) at row offsets y, all tiles one size."""

    tile_w: int
    tile_h: int
    image_w: int
    image_h: int
    overlap: int
    rows: list[tuple[int, list[tuple[int, Image.Image]]]] = field(default_factory=list)

    @property
    def tiles(self) -> list[Image.Image]:
        return [tile for _, row in self.rows for _, tile in row]

    def with_tiles(self, tiles: list[Image.Image]) -> "TileGrid":
        it = iter(tiles)
        rows = [(y, [(x, next(it)) for x, _ in row]) for y, row in self.rows]
        return TileGrid(self.tile_w, self.tile_h, self.image_w, self.image_h, self.overlap, rows)


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread tile offsets covering ``size``, the last flush with the edge (A1111)."""
    count = math.ceil((size - overlap) / (tile - overlap))
    step = (size - tile) / (count - 1) if count > 1 else 0
    return [min(int(i * step), size - tile) for i in range(count)]


def split_tiles(image: Image.Image, tile_w: int, tile_h: int, overlap: int) -> TileGrid:
    grid = TileGrid(tile_w, tile_h, image.width, image.height, overlap)
    for y in _starts(image.height, tile_h, overlap):
        grid.rows.append((y, [(x, image.crop((x, y, x + tile_w, y + tile_h)))
                              for x in _starts(image.width, tile_w, overlap)]))
    return grid


def _ramp(width: int, height: int, horizontal: bool) -> Image.Image:
    """A 0→255 mask across the overlap, fading the next tile in over the previous one."""
    length = width if horizontal else height
    ramp = (np.arange(length, dtype=np.float32) * 255 / max(length, 1)).astype(np.uint8)
    return Image.fromarray(np.tile(ramp, (height, 1)) if horizontal else np.tile(ramp[:, None], (1, width)), "L")


def combine_tiles(grid: TileGrid) -> Image.Image:
    """Paste tiles back, blending each into its left and upper neighbour across the overlap."""
    o = grid.overlap
    combined = Image.new("RGB", (grid.image_w, grid.image_h))
    for y, row in grid.rows:
        strip = Image.new("RGB", (grid.image_w, grid.tile_h))
        for x, tile in row:
            if x == 0 or o == 0:
                strip.paste(tile, (x, 0))
                continue
            strip.paste(tile.crop((0, 0, o, grid.tile_h)), (x, 0), _ramp(o, grid.tile_h, True))
            strip.paste(tile.crop((o, 0, grid.tile_w, grid.tile_h)), (x + o, 0))
        if y == 0 or o == 0:
            combined.paste(strip, (0, y))
            continue
        combined.paste(strip.crop((0, 0, grid.image_w, o)), (0, y), _ramp(grid.image_w, o, False))
        combined.paste(strip.crop((0, o, grid.image_w, grid.tile_h)), (0, y + o))
    return combined


def _upscaler_name(engine: GenerationEngine, choice: Union[str, int]) -> str:
    names = engine.pixel_upscalers()
    if isinstance(choice, (int, float)) and not isinstance(choice, bool):
        if not 0 <= int(choice) < len(names):
            raise ValueError(f"upscaler index {choice} out of range; upscalers: "
                             + ", ".join(f"{i}: {n}" for i, n in enumerate(names)))
        return names[int(choice)]
    for name in names:
        if name.casefold() == str(choice).casefold():
            return name
    raise ValueError(f"unknown upscaler {choice!r}; available: {', '.join(names)}")


def _check(request: GenerationRequest, options: SdUpscaleOptions) -> None:
    if not isinstance(request, Img2ImgRequest):
        raise ValueError("SD upscale is an img2img script: send an init image")
    if not 0 <= options.overlap <= MAX_OVERLAP or options.overlap >= min(request.width, request.height):
        raise ValueError(f"overlap must be between 0 and {MAX_OVERLAP} and smaller than the tile "
                         f"({request.width}x{request.height}), got {options.overlap}")
    if not 1.0 <= options.scale_factor <= 8.0:
        raise ValueError(f"scale factor must be between 1 and 8, got {options.scale_factor}")


def run_sd_upscale(engine: GenerationEngine, request: GenerationRequest, options: SdUpscaleOptions,
                   control: Optional[JobControl] = None) -> ScriptResult:
    """Upscale ``request.init_images[0]`` and redraw it in tiles of ``request.width × height``;
    ``request.n_iter`` upscales, each with its own seed. ValueError before any work on bad input."""
    started = time.perf_counter()
    _check(request, options)
    upscaler = _upscaler_name(engine, options.upscaler)
    source = request.init_images[0].convert("RGB")
    size = (round(source.width * options.scale_factor), round(source.height * options.scale_factor))
    if size[0] < request.width or size[1] < request.height:
        raise ValueError(f"the upscaled image ({size[0]}x{size[1]}) is smaller than one tile "
                         f"({request.width}x{request.height}): raise the scale factor or lower width/height")
    upscaled = engine.pixel_upscale(source, upscaler, *size, control)  # an interrupt stops a model upscaler inside
    grid = split_tiles(upscaled, request.width, request.height, options.overlap)
    tiles, batch = grid.tiles, request.batch_size
    batches = [tiles[i:i + batch] for i in range(0, len(tiles), batch)]
    seed = resolve_seed(request.seed)
    extra = {**request.extra, "SD upscale overlap": options.overlap, "SD upscale upscaler": upscaler}
    base = with_fields(request, n_iter=1, save_images=False, extra=extra, mask=None)
    tile_steps = steps_per_job(engine, with_fields(base, batch_size=1))
    control = control or JobControl()
    chain = JobChain(engine, control, tile_steps * len(tiles) * request.n_iter, TITLE)
    result = ScriptResult(request=request)
    cells: list[GenerationResult] = []
    for n in range(request.n_iter):
        done: list[Image.Image] = []
        for i, chunk in enumerate(batches):
            if chain.interrupted:
                break
            cell = chain.run(with_fields(base, init_images=chunk, batch_size=len(chunk), seed=seed + n + i),
                             f"batch {i + 1 + n * len(batches)} out of {len(batches) * request.n_iter}")
            cells.append(cell)
            done += cell.images
        if chain.interrupted and not done:
            break
        done += [Image.new("RGB", (request.width, request.height))] * (len(tiles) - len(done))  # A1111: black
        image = combine_tiles(grid.with_tiles(done))
        text = cells[0].infotexts[0]
        result.add(image, text, seed + n, cells[0].subseeds[0], request.prompt, request.negative_prompt)
        if request.save_images:
            result.paths.append(engine.writer.save(image, "img2img", seed=seed + n, prompt=request.prompt,
                                                   infotext=text))
    adopt_first_cell(result, cells)  # the tiles are never saved, only the combined pictures
    result.interrupted = chain.interrupted
    result.seconds = time.perf_counter() - started
    return result
