"""Training batches as DeepFaceLab makes them: a random pose jitter (rotation, scale, shift, flip)
applied alike to the face, its masks and the target, and a random grid warp applied to the input
only, so the autoencoder must learn the face rather than copy pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch

from pipelines.dfl.colour import transfer
from pipelines.dfl.pack import Faceset


@dataclass
class Batch:
    """Tensors (B, C, R, R) in 0..1: warped input, target, hull mask, eyes/mouth mask."""

    inputs: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor
    parts: torch.Tensor


def resized(faceset: Faceset, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces and masks at the model's resolution, done once per training run; kept as uint8 (a
    float copy of a large faceset would take four times the memory) and scaled per sample."""
    def fit(array: np.ndarray, interpolation: int) -> np.ndarray:
        if array.shape[1] == resolution:
            return array
        return np.stack([cv2.resize(a, (resolution, resolution), interpolation=interpolation) for a in array])

    return (fit(faceset.images, cv2.INTER_AREA), fit(faceset.masks, cv2.INTER_LINEAR),
            fit(faceset.parts, cv2.INTER_LINEAR))


def _unit(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) / 255.0


def random_affine(rng: np.random.Generator, size: int) -> tuple[np.ndarray, bool]:
    """DeepFaceLab's ranges: ±10° rotation, ±5% scale, ±5% shift, and a coin for the flip."""
    angle = rng.uniform(-10, 10)
    scale = 1.0 + rng.uniform(-0.05, 0.05)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.05, 0.05, 2) * size
    return matrix, bool(rng.random() < 0.5)


def random_warp_maps(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random displacement: a coarse grid of jittered points, upsampled (DeepFaceLab's gen_warp_params)."""
    cell = size // (2 ** int(rng.integers(1, 4)))
    count = size // cell + 1
    grid = np.linspace(0, size, count, dtype=np.float32)
    map_x = np.broadcast_to(grid, (count, count)).copy()
    map_y = map_x.T.copy()
    jitter = cell * 0.24
    map_x[1:-1, 1:-1] += rng.normal(size=(count - 2, count - 2)).astype(np.float32) * jitter
    map_y[1:-1, 1:-1] += rng.normal(size=(count - 2, count - 2)).astype(np.float32) * jitter
    big = size + cell
    half = cell // 2
    map_x = cv2.resize(map_x, (big, big))[half:half + size, half:half + size].astype(np.float32)
    map_y = cv2.resize(map_y, (big, big))[half:half + size, half:half + size].astype(np.float32)
    return map_x, map_y


def _apply(image: np.ndarray, matrix: np.ndarray, flip: bool, size: int) -> np.ndarray:
    out = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out[:, ::-1] if flip else out


def _chw(arrays: list[np.ndarray]) -> torch.Tensor:
    stacked = np.stack([a if a.ndim == 3 else a[..., None] for a in arrays])
    return torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))


class SampleSource:
    """Random batches from one side's faceset."""

    def __init__(self, faceset: Faceset, resolution: int, random_warp: bool, seed: int) -> None:
        self.images, self.masks, self.parts = resized(faceset, resolution)
        self.size = resolution
        self.random_warp = random_warp
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, count: int, recolour_like: Optional["SampleSource"] = None, colour_mode: str = "none") -> Batch:
        replace = count > len(self.images)
        indices = self.rng.choice(len(self.images), size=count, replace=replace)
        inputs, targets, masks, parts = [], [], [], []
        for i in indices:
            image, mask, part = _unit(self.images[i]), _unit(self.masks[i]), _unit(self.parts[i])
            if recolour_like is not None and colour_mode != "none":
                j = int(self.rng.integers(len(recolour_like)))
                image = transfer(colour_mode, image, _unit(recolour_like.images[j]), mask,
                                 _unit(recolour_like.masks[j]))
            matrix, flip = random_affine(self.rng, self.size)
            source = image
            if self.random_warp:
                map_x, map_y = random_warp_maps(self.rng, self.size)
                source = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inputs.append(_apply(source, matrix, flip, self.size))
            targets.append(_apply(image, matrix, flip, self.size))
            masks.append(_apply(mask, matrix, flip, self.size))
            parts.append(_apply(part, matrix, flip, self.size))
        return Batch(_chw(inputs), _chw(targets), _chw(masks), _chw(parts))

    def fixed(self, count: int) -> torch.Tensor:
        """The first ``count`` faces unwarped: the preview grid's rows, the same every time."""
        picks = [_unit(self.images[i % len(self.images)]) for i in range(count)]
        return _chw(picks)
