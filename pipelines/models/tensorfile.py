"""Reading tensor files users bring, without ever running pickled code (see
:mod:`pipelines.models.pickles`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.models.pickles import load_pickle


def read_tensor_file(path: Path, *, meta: bool = False) -> Any:
    """All of a ``.safetensors`` file's tensors, or a pickle read with ``weights_only=True``
    (a file that needs code execution to unpickle raises instead of running it); on the CPU.

    With ``meta`` the tensors are shapes only (the meta device): a quick look at a file's
    layout that reads no weights.
    """
    if path.suffix.lower() == ".safetensors":
        if meta:
            from pipelines.models.identify import safetensors_shapes

            return {key: torch.empty(shape, device="meta") for key, shape in safetensors_shapes(path).items()}
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return load_pickle(path, map_location="meta" if meta else "cpu")
