"""A trained face model as a swap method of the Faces engine: ``"trained model: <name>"``.

The model holds the source person, so no source picture is needed: each target face is found by
the engine's detector, given its 68 landmarks, and swapped by the model the way merge does it.
The Faces tab, the video swap, the generation post-process and the API all pick it by that name.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from pipelines.dfl.store import WEIGHTS, load_model, model_dir, model_names
from pipelines.dfl.swapper import MergeOptions, TrainedSwapper
from pipelines.faces.errors import FaceError
from pipelines.faces.masks import MaskOptions

PREFIX = "trained model: "


def method_name(model: str) -> str:
    return f"{PREFIX}{model}"


def trained_name(method: str) -> Optional[str]:
    """The model name of a ``trained model: <name>`` method, else None."""
    return method[len(PREFIX):].strip() if method.startswith(PREFIX) else None


def trained_methods(models_dir: Path) -> list[str]:
    return [method_name(name) for name in model_names(models_dir)]


def weights_file(models_dir: Path, name: str) -> Path:
    """The model's weights file (the cache key); a clear error naming the folder when absent."""
    folder = model_dir(models_dir, name)
    if not (folder / WEIGHTS).is_file():
        available = ", ".join(model_names(models_dir)) or "none yet"
        raise FaceError(f"No trained face model {name!r} in {folder.parent} (trained models: {available}); "
                                "train one with 'launch.py train-face' or the Faces tab")
    return folder / WEIGHTS


def load_swapper(weights: Path, device: torch.device) -> TrainedSwapper:
    return TrainedSwapper(load_model(weights.parent, device)[0], device)


def merge_options(mask: MaskOptions) -> MergeOptions:
    """The engine's mask options (fractions of the face) in merge's thousandths: the same controls
    mean the same thing whichever method swaps."""
    return MergeOptions(mask_mode="dst hull", erode=int(round(mask.erosion * 1000)), blur=int(round(mask.blur * 1000)))


def swap_face(swapper: TrainedSwapper, rgb: np.ndarray, landmarks68: np.ndarray, mask: MaskOptions) -> np.ndarray:
    """One target face swapped by the model, with the engine's mask erosion, blur and opacity."""
    options = merge_options(mask)
    if swapper.config.learn_mask:
        options = replace(options, mask_mode="combined")
    out = swapper.swap_face(rgb, landmarks68, options)
    if mask.opacity >= 1.0:
        return out
    blended = rgb.astype(np.float32) + (out.astype(np.float32) - rgb) * mask.opacity
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
