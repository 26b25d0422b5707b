"""Grid images with A1111-style legends, and saving them under ``<kind>-grids/``.

X/Y/Z plot and prompt matrix both draw here. The layout follows A1111's
``images.draw_grid_annotations``: font size (cell width + height) / 25, row labels in a
left margin 3/4 of a cell wide, column labels above, labels wrapped word by word and
shrunk until they fit, inactive (prompt-matrix) labels grey and struck through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from PIL import Image, ImageDraw, ImageFont


ACTIVE_COLOR = (0, 0, 0)
INACTIVE_COLOR = (153, 153, 153)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class GridLabel:
    """One line of a legend; inactive lines (parts left out of a prompt) are struck through."""

    text: str = ""
    active: bool = True


def image_grid(images: Sequence[Image.Image], rows: Optional[int] = None) -> Image.Image:
    """Tile ``images`` row by row on black; ``rows`` defaults to round(sqrt(n)) (A1111).

    Tiles are as large as the largest image and smaller images are centred in theirs
    (A1111 uses the first image's size and crops the others).
    """
    if not images:
        raise ValueError("a grid needs at least one image")
    rows = max(1, min(rows or round(math.sqrt(len(images))), len(images)))
    cols = math.ceil(len(images) / rows)
    w, h = max(im.width for im in images), max(im.height for im in images)
    grid = Image.new("RGB", (cols * w, rows * h), "black")
    for i, image in enumerate(images):
        x, y = i % cols * w + (w - image.width) // 2, i // cols * h + (h - image.height) // 2
        grid.paste(image.convert("RGB"), (x, y))
    return grid


class _Fonts:
    """Fonts by size for one drawing (shrinking a label tries many sizes)."""

    def __init__(self) -> None:
        self._by_size: dict[int, Font] = {}

    def get(self, size: int) -> Font:
        size = max(1, size)
        if size not in self._by_size:
            # Pillow >= 10.1 ships a scalable default font; nothing to download or find.
            self._by_size[size] = ImageFont.load_default(size=size)
        return self._by_size[size]


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float) -> list[str]:
    lines = [""]
    for word in text.split():
        line = f"{lines[-1]} {word}".strip()
        if draw.textlength(line, font=font) <= width or not lines[-1]:
            lines[-1] = line
        else:
            lines.append(word)
    return lines


@dataclass
class _Line:
    text: str
    active: bool
    width: int
    height: int
    allowed: int


def _layout(draw: ImageDraw.ImageDraw, labels: Sequence[GridLabel], font: Font, allowed: int) -> list[_Line]:
    lines = []
    for label in labels:
        for text in _wrap(draw, label.text, font, allowed):
            left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
            lines.append(_Line(text, label.active, right - left, bottom - top, allowed))
    return lines


def _block_height(lines: Sequence[_Line], spacing: int) -> int:
    return sum(line.height + spacing for line in lines) - spacing if lines else 0


def _draw_block(draw: ImageDraw.ImageDraw, x: float, y: float, lines: Sequence[_Line], fonts: _Fonts,
                size: int, spacing: int) -> None:
    for line in lines:
        font, fitted = fonts.get(size), size
        while draw.textlength(line.text, font=font) > line.allowed and fitted > 1:
            fitted -= 1
            font = fonts.get(fitted)
        color = ACTIVE_COLOR if line.active else INACTIVE_COLOR
        draw.text((x, y + line.height / 2), line.text, font=font, fill=color, anchor="mm")
        if not line.active:
            mid = y + line.height // 2
            # A1111 strikes 4 px through its ~40 px labels; keep that proportion at any size.
            draw.line((x - line.width // 2, mid, x + line.width // 2, mid), fill=INACTIVE_COLOR,
                      width=max(1, size // 10))
        y += line.height + spacing


def annotate_grid(grid: Image.Image, cell_size: tuple[int, int], columns: Sequence[Sequence[GridLabel]],
                  rows: Sequence[Sequence[GridLabel]], margin: int = 0) -> Image.Image:
    """``grid`` (cols × rows tiles of ``cell_size``) on white with column labels above,
    row labels on the left and ``margin`` pixels between tiles."""
    cell_w, cell_h = cell_size
    if len(columns) * cell_w > grid.width or len(rows) * cell_h > grid.height:
        raise ValueError(f"{len(columns)}x{len(rows)} labels do not fit a {grid.width}x{grid.height} grid "
                         f"of {cell_w}x{cell_h} cells")
    margin = max(0, int(margin))
    fonts = _Fonts()
    size = max(1, (cell_w + cell_h) // 25)
    spacing = size // 2
    font = fonts.get(size)
    pad_left = cell_w * 3 // 4 if any(label.text for labels in rows for label in labels) else 0
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    col_lines = [_layout(measure, labels, font, cell_w) for labels in columns]
    row_lines = [_layout(measure, labels, font, pad_left) for labels in rows]
    col_heights = [_block_height(lines, spacing) for lines in col_lines]
    row_heights = [_block_height(lines, spacing) for lines in row_lines]
    has_top = any(line.text for lines in col_lines for line in lines)
    pad_top = max(col_heights) + spacing * 2 if has_top else 0

    ncols, nrows = len(columns), len(rows)
    result = Image.new("RGB", (ncols * cell_w + pad_left + margin * (ncols - 1),
                               nrows * cell_h + pad_top + margin * (nrows - 1)), "white")
    for row in range(nrows):
        for col in range(ncols):
            tile = grid.crop((cell_w * col, cell_h * row, cell_w * (col + 1), cell_h * (row + 1)))
            result.paste(tile, (pad_left + (cell_w + margin) * col, pad_top + (cell_h + margin) * row))
    draw = ImageDraw.Draw(result)
    for col, lines in enumerate(col_lines):
        x = pad_left + (cell_w + margin) * col + cell_w / 2
        _draw_block(draw, x, pad_top / 2 - col_heights[col] / 2, lines, fonts, size, spacing)
    for row, lines in enumerate(row_lines):
        y = pad_top + (cell_h + margin) * row + cell_h / 2 - row_heights[row] / 2
        _draw_block(draw, pad_left / 2, y, lines, fonts, size, spacing)
    return result


def labelled_grid(images: Sequence[Image.Image], columns: Sequence[Sequence[GridLabel]],
                  rows: Sequence[Sequence[GridLabel]], margin: int = 0, legend: bool = True) -> Image.Image:
    """Tile ``images`` into len(rows) rows and annotate them (or not, without ``legend``)."""
    grid = image_grid(images, rows=len(rows))
    if not legend:
        return grid
    cell = (max(im.width for im in images), max(im.height for im in images))
    return annotate_grid(grid, cell, columns, rows, margin)


def plain_labels(texts: Sequence[str]) -> list[list[GridLabel]]:
    """One single-line legend entry per text."""
    return [[GridLabel(text)] for text in texts]
