"""Load a detector file from ``models/detectors/`` whatever layout it was published in.

Files are read without executing code (safetensors, or pickles with ``weights_only=True``), the
wrapper dicts projects save (``state_dict``, ``model``) and DataParallel's ``module.`` prefix are
removed, the layout is recognised from its keys, every key is renamed and the weights are loaded
strictly. The spec comes from the layout's defaults, the file's own metadata (Atelier's files)
and a sidecar ``<stem>.json``, in that order of precedence, lowest first.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipelines.detect.efficientnet import VARIANTS
from pipelines.detect.layouts import Layout, identify, remap
from pipelines.detect.spec import DetectorSpec, build_model, read_sidecar
from pipelines.models.pickles import RefusedPickleError, UnreadablePickleError
from pipelines.models.tensorfile import read_tensor_file

DETECTOR_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".tar", ".ckpt")
METADATA_KEY = "atelier_detector"
_WRAPPERS = ("state_dict", "model", "model_state_dict")


def unwrap_state_dict(raw: Any) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, out of a training wrapper and without ``module.``."""
    while isinstance(raw, dict):
        inner = next((raw[k] for k in _WRAPPERS if isinstance(raw.get(k), dict)), None)
        if inner is None:
            break
        raw = inner
    if not isinstance(raw, dict):
        raise ValueError(f"expected a state dict of tensors, found {type(raw).__name__}")
    state = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ValueError("the file holds no tensors")
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def read_metadata(path: Path) -> dict[str, Any]:
    """The detector record Atelier writes into its own safetensors files ({} otherwise)."""
    if path.suffix.lower() != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        text = (handle.metadata() or {}).get(METADATA_KEY)
    return json.loads(text) if text else {}


def native_resolution(arch: str) -> int:
    return 299 if arch == "xception" else VARIANTS[arch.removeprefix("efficientnet-")].resolution


def resolve_spec(layout: Layout, state: dict[str, torch.Tensor], path: Path) -> DetectorSpec:
    """Layout defaults ← shapes ← file metadata ← sidecar: the last one naming a field wins."""
    values: dict[str, Any] = {**layout.defaults, **layout.infer_fields(state), "layout": layout.name}
    values.update(read_metadata(path))
    values.update(read_sidecar(path))
    values.setdefault("input_size", native_resolution(values["arch"]))
    base = DetectorSpec(arch=values.pop("arch"), input_size=values.pop("input_size"))
    return base.with_overrides(values)


def load_weights(model: nn.Module, mapped: dict[str, torch.Tensor], layout: Layout) -> None:
    """Strict load; fills only what older PyTorch never saved (BatchNorm's step counters)."""
    own = model.state_dict()
    for key, tensor in list(mapped.items()):
        target = own.get(key)
        if target is not None and tensor.dim() == 2 and target.dim() == 4:
            mapped[key] = tensor[:, :, None, None]  # Cadene-style 2-D pointwise weights
    for key in own:
        if key.endswith("num_batches_tracked") and key not in mapped:
            mapped[key] = torch.zeros((), dtype=torch.long)
    try:
        model.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{layout.name}: the weights do not fit the architecture: {str(exc)[:600]}") from exc


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        return unwrap_state_dict(read_tensor_file(path))
    except RefusedPickleError:
        raise  # its message is the one every model kind gives
    except (UnreadablePickleError, pickle.UnpicklingError, OSError, RuntimeError, EOFError, IndexError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"{path.name}: not a readable checkpoint (not a PyTorch or safetensors file: {first})") from exc


def load_network(path: Path) -> tuple[nn.Module, DetectorSpec]:
    """The network (eval mode, CPU, float32) and its spec, from any known layout."""
    if not path.is_file():
        raise FileNotFoundError(f"detector file not found: {path}")
    state = read_checkpoint(path)
    try:
        layout = identify(state)
        spec = resolve_spec(layout, state, path)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    model = build_model(spec)
    try:
        load_weights(model, remap(state, layout, model), layout)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    return model.eval(), spec


def load_for_training(path: Path) -> tuple[nn.Module, DetectorSpec, bool]:
    """A network to fine-tune from ``path`` (any known layout), its spec, and whether the file's
    own detector head was kept. An ImageNet classifier (1000 outputs) or any head that is not a
    detector's is dropped and a fresh two-way head is trained instead."""
    if not path.is_file():
        raise ValueError(f"initial weights not found: {path}")
    state = read_checkpoint(path)
    try:
        layout = identify(state)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    pattern = re.compile(re.escape(layout.prefix) + layout.classifier_key)
    head = [k for k in state if pattern.fullmatch(k)]
    keep_head = bool(head) and state[head[0]].shape[0] in (1, 2)
    if head and not keep_head:
        stem = head[0].rsplit(".", 1)[0]
        state = {k: v for k, v in state.items() if k.rsplit(".", 1)[0] != stem}
    try:
        spec = resolve_spec(layout, state, path)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    model = build_model(spec)
    mapped = remap(state, layout, model)
    if not keep_head:
        mapped.update({k: v for k, v in model.state_dict().items() if k.startswith("classifier.")})
    try:
        load_weights(model, mapped, layout)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    return model, spec, keep_head
