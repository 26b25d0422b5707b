"""What a training run shows: DeepFaceLab's preview grid and the loss curve, as PIL images."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

COLUMNS = ("src", "src->src", "dst", "dst->dst", "dst->src")
SRC_COLOUR, DST_COLOUR = (230, 160, 20), (40, 120, 230)


def _tiles(batch: torch.Tensor) -> list[np.ndarray]:
    array = (batch.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1) * 255 + 0.5).astype(np.uint8)
    return list(array)


def preview_grid(src: torch.Tensor, src_src: torch.Tensor, dst: torch.Tensor, dst_dst: torch.Tensor,
                 dst_src: torch.Tensor, caption: str = "") -> Image.Image:
    """One row per face: src, src→src, dst, dst→dst, dst→src (DeepFaceLab's column order)."""
    columns = [_tiles(t) for t in (src, src_src, dst, dst_dst, dst_src)]
    rows, size = len(columns[0]), columns[0][0].shape[0]
    tile = max(size, 64)
    header = 16
    grid = Image.new("RGB", (tile * len(columns), header + tile * rows + (14 if caption else 0)), (24, 24, 24))
    draw = ImageDraw.Draw(grid)
    for c, title in enumerate(COLUMNS):
        draw.text((c * tile + 3, 2), title, fill=(230, 230, 230))
        for r in range(rows):
            face = Image.fromarray(columns[c][r]).resize((tile, tile), Image.Resampling.LANCZOS)
            grid.paste(face, (c * tile, header + r * tile))
    if caption:
        draw.text((3, header + tile * rows + 1), caption, fill=(230, 230, 230))
    return grid


def loss_plot(history: Sequence[Sequence[float]], width: int = 480, height: int = 200) -> Image.Image:
    """Source and destination loss against iteration (the y axis from 0 to the highest loss)."""
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 44, width - 8, 18, height - 20
    draw.rectangle((left, top, right, bottom), outline=(120, 120, 120))
    draw.text((left, 3), "loss", fill=(40, 40, 40))
    draw.text((left + 40, 3), "src", fill=SRC_COLOUR)
    draw.text((left + 70, 3), "dst", fill=DST_COLOUR)
    if len(history) < 1:
        draw.text((left + 10, (top + bottom) // 2), "no iterations yet", fill=(80, 80, 80))
        return image
    data = np.asarray(history, np.float64)
    its, top_value = data[:, 0], max(float(data[:, 1:].max()), 1e-6)
    first, last = float(its.min()), float(max(its.max(), its.min() + 1))
    draw.text((2, top - 4), f"{top_value:.3g}", fill=(40, 40, 40))
    draw.text((2, bottom - 8), "0", fill=(40, 40, 40))
    draw.text((left, bottom + 4), f"{int(first)}", fill=(40, 40, 40))
    draw.text((right - 50, bottom + 4), f"{int(last)} it", fill=(40, 40, 40))

    def xy(it: float, value: float) -> tuple[float, float]:
        return (left + (it - first) / (last - first) * (right - left),
                bottom - value / top_value * (bottom - top))

    for column, colour in ((1, SRC_COLOUR), (2, DST_COLOUR)):
        points = [xy(it, v) for it, v in zip(its, data[:, column])]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        else:
            draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=colour)
    return image
