"""Torch pickles read with ``weights_only``, and the one way a refusal is worded.

Every model kind (checkpoint, VAE, LoRA, embedding, upscaler, detector, TAESD) reads pickles
through :func:`load_pickle`, so a file that would need code execution is refused with one
message everywhere — never torch's advice to retry with ``weights_only=False``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

REFUSED_PICKLE = "needs pickle code execution; refused for safety — convert it to .safetensors"
_GLOBAL = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)", re.IGNORECASE)


class RefusedPickleError(ValueError):
    """A pickle that only loads by running code it names; the message is for the user."""


def refused_pickle_message(name: str, exc: BaseException) -> str:
    """``<name> needs pickle code execution; refused … (it references <global>)``."""
    found = _GLOBAL.search(str(exc))
    return f"{name} {REFUSED_PICKLE}" + (f" (it references {found.group(1)})" if found else "")


class UnreadablePickleError(ValueError):
    """Not a pickle torch can read (damaged, or another format); the message is for the user."""


def _reason(exc: BaseException) -> str:
    """torch's own reason, without its advice to retry with ``weights_only=False``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Weights only load failed", "Please file an issue",
                                                              "Check the documentation", "WeightsUnpickler error"))]
    return (useful[0] if useful else type(exc).__name__)[:200]


def load_pickle(path: Path, *, map_location: Any = "cpu", **options: Any) -> Any:
    """``torch.load(weights_only=True)``. A file that names code to run raises
    :class:`RefusedPickleError`, one that is no readable pickle :class:`UnreadablePickleError`."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True, **options)
    except pickle.UnpicklingError as exc:
        if _GLOBAL.search(str(exc)):
            raise RefusedPickleError(refused_pickle_message(path.name, exc)) from None
        raise UnreadablePickleError(f"{path.name} is not a readable PyTorch file ({_reason(exc)})") from None
