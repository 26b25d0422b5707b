"""Extra networks: LoRA / LyCORIS (``<lora:…>`` tags) and textual-inversion embeddings.

- :mod:`pipelines.networks.tags`: prompt tags → :class:`NetworkRequest` (A1111 semantics).
- :mod:`pipelines.networks.lora`: ``models/Lora`` catalog, :class:`NetworkManager` (apply /
  remove as peft adapters, bit-exact restore), ``Lora hashes``.
- :mod:`pipelines.networks.embeddings`: :class:`EmbeddingDatabase`, token expansion and vector
  injection for prompt conditioning, ``TI hashes``.

The submodules are imported lazily, so reading tags does not import torch/diffusers.
"""

from __future__ import annotations

from pipelines.networks.tags import (
    ExtraNetworkTag,
    NetworkRequest,
    PromptNetworks,
    parse_extra_networks,
    parse_prompt_networks,
    strip_extra_networks,
)

__all__ = [
    "ExtraNetworkTag",
    "NetworkRequest",
    "PromptNetworks",
    "parse_extra_networks",
    "parse_prompt_networks",
    "strip_extra_networks",
]
