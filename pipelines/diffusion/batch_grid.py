"""A1111's grid of a batch: one picture of all the job's images, first in what is returned.

A1111 (processing.py) makes it when a job made at least two images and grids are wanted:
``return_grid`` puts it first in the images (``index_of_first_image`` 1), ``grid_save`` saves
it under ``<kind>-grids/``. Its API only does either when ``save_images`` is true
(``do_not_save_grid = not save_images``), so the default API call gets no grid.
"""

from __future__ import annotations

from pipelines.diffusion.result import GenerationResult
from pipelines.outputs import OutputWriter
from pipelines.scripts.grid import image_grid


def add_batch_grid(result: GenerationResult, writer: OutputWriter, kind: str, *, return_grid: bool,
                   grid_save: bool) -> None:
    """Build the grid of ``result``'s images if there are two or more; insert it first
    (``return_grid``) and/or save it (``grid_save``) with the first image's infotext."""
    if len(result.images) < 2 or not (return_grid or grid_save) or result.grid_count:
        return
    text = result.infotexts[0] if result.infotexts else None
    stamped = writer.stamp(image_grid(result.images, rows=None), f"{kind}-grid", text)
    if grid_save:
        result.paths.insert(0, writer.save_grid(stamped.image, kind, text, stamped=stamped))
    if return_grid:
        result.images.insert(0, stamped.image)
        result.infotexts.insert(0, stamped.infotext)
        result.grid_count = 1
