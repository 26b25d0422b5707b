"""Reading tensor files users bring, without ever running pickled code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def read_tensor_file(path: Path) -> Any:
    """All of a ``.safetensors`` file's tensors, or a pickle read with ``weights_only=True``
    (a file that needs code execution to unpickle raises instead of running it); on the CPU."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)
