"""A trained face model on disk: ``models/dfl/<name>/`` = ``config.json`` + ``model.safetensors``
(+ ``optimizer.safetensors`` to resume, ``preview.png``, ``loss.png``, ``backups/<iteration>/``).

Never pickle: weights and optimizer moments are safetensors, everything else JSON. Each file is
replaced atomically and the weights carry their iteration in their header, so a crash mid-save
leaves the previous save loadable.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from pipelines.dfl.model import FaceAutoencoder, ModelConfig
from pipelines.dfl.workspace import check_name
from pipelines.fileio import atomic_open, atomic_write_text

FORMAT = "atelier-dfl-model/1"
MODELS_FOLDER = "dfl"
WEIGHTS, OPTIMIZER, CONFIG = "model.safetensors", "optimizer.safetensors", "config.json"
BACKUPS = "backups"


class ModelStoreError(ValueError):
    """No such model, or a folder that is not a trained face model."""


@dataclass
class TrainingState:
    """What training has done so far: restored on resume."""

    iteration: int = 0
    seconds: float = 0.0
    history: list[list[float]] = field(default_factory=list)
    """[iteration, src loss, dst loss] per logged step."""

    def to_json(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "seconds": round(self.seconds, 2), "history": self.history}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainingState":
        return cls(int(data.get("iteration", 0)), float(data.get("seconds", 0.0)), list(data.get("history", [])))


def models_root(models_dir: Path) -> Path:
    return Path(models_dir) / MODELS_FOLDER


def model_dir(models_dir: Path, name: str) -> Path:
    return models_root(models_dir) / check_name(name, "model")


def model_names(models_dir: Path) -> list[str]:
    """Folders of ``models/dfl`` that hold a trained model."""
    root = models_root(models_dir)
    return sorted(p.name for p in root.iterdir() if (p / CONFIG).is_file() and (p / WEIGHTS).is_file()) \
        if root.is_dir() else []


def read_config(folder: Path) -> tuple[ModelConfig, TrainingState]:
    path = folder / CONFIG
    if not path.is_file():
        raise ModelStoreError(f"no trained face model in {folder} (no {CONFIG})")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ModelStoreError(f"{path}: not an Atelier face model (format {data.get('format')!r})")
    return ModelConfig.from_json(data["config"]), TrainingState.from_json(data.get("state", {}))


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], str]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{index}.{key}"] = tensor.detach().cpu().contiguous()
    return tensors, json.dumps(state["param_groups"])


def _load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        groups = json.loads(handle.metadata()["param_groups"])
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key in handle.keys():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = handle.get_tensor(key)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_model(folder: Path, model: FaceAutoencoder, state: TrainingState,
               optimizers: Optional[dict[str, torch.optim.Optimizer]] = None) -> Path:
    """Weights, then optimizer moments, then the JSON that names the iteration they belong to."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"format": FORMAT, "iteration": str(state.iteration), "config": json.dumps(model.config.to_json())}
    with atomic_open(folder / WEIGHTS, "wb") as handle:
        handle.write(save(weights, metadata=header))
    for suffix, optimizer in (optimizers or {}).items():
        tensors, groups = _optimizer_tensors(optimizer)
        with atomic_open(folder / OPTIMIZER.replace(".safetensors", f"{suffix}.safetensors"), "wb") as handle:
            handle.write(save(tensors, metadata={"param_groups": groups, "iteration": str(state.iteration)}))
    atomic_write_text(folder / CONFIG, json.dumps({"format": FORMAT, "config": model.config.to_json(),
                                                   "state": state.to_json()}, indent=1))
    return folder


def load_model(folder: Path, device: torch.device = torch.device("cpu")) -> tuple[FaceAutoencoder, TrainingState]:
    """The model of ``folder`` (weights loaded strictly), on ``device``, in eval mode."""
    from safetensors.torch import load_file

    config, state = read_config(folder)
    if not (folder / WEIGHTS).is_file():
        raise ModelStoreError(f"{folder}: no {WEIGHTS}")
    model = FaceAutoencoder(config)
    model.load_state_dict(load_file(str(folder / WEIGHTS)), strict=True)
    return model.to(device).eval(), state


def load_optimizer(folder: Path, optimizer: torch.optim.Optimizer, suffix: str = "") -> bool:
    """Restore optimizer moments when the file exists (an older save without them starts fresh)."""
    path = folder / OPTIMIZER.replace(".safetensors", f"{suffix}.safetensors")
    if not path.is_file():
        return False
    _load_optimizer(optimizer, path)
    return True


def backup(folder: Path, iteration: int, keep: int) -> Optional[Path]:
    """Copy the current save to ``backups/<iteration>/`` and drop all but the newest ``keep``."""
    if keep <= 0 or not (folder / WEIGHTS).is_file():
        return None
    target = folder / BACKUPS / f"{iteration:08d}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in folder.iterdir():
        if path.is_file():
            shutil.copy2(path, target / path.name)
    olds = sorted(p for p in (folder / BACKUPS).iterdir() if p.is_dir())
    for old in olds[:-keep]:
        shutil.rmtree(old)
    return target
