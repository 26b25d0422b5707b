"""Models folders an attacker (or a bad download) leaves: pickles that run code, empty files,
dangling links, folders named like model files — next to a few good tiny models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

REFUSED = "needs pickle code execution; refused for safety — convert it to .safetensors"
TORCH_ADVICE = ("weights_only", "Re-running", "torch.load")
# folder → (suffix of a pickle there, what it is)
PICKLE_FOLDERS = {"Stable-diffusion": ".ckpt", "VAE": ".pt", "Lora": ".pt", "embeddings": ".pt", "ESRGAN": ".pth",
                  "detectors": ".pth"}
PLACEHOLDER_FOLDERS = ("Stable-diffusion", "VAE", "Lora", "embeddings")


class Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def copy_good_models(source: Path, target: Path) -> None:
    """The tiny SD1 checkpoint, VAE, LoRA and embedding of the session's models folder."""
    for relative in ("Stable-diffusion/tiny-sd1.safetensors", "VAE/tiny-vae.safetensors", "Lora/tiny-lora.safetensors",
                     "embeddings/tiny-ti.safetensors"):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / relative, target / relative)
    # the tiny checkpoint's sidecar diffusers config (its dimensions are not a standard family's)
    shutil.copytree(source / "Stable-diffusion/tiny-sd1.config", target / "Stable-diffusion/tiny-sd1.config")


def write_refused_pickles(root: Path, marker: Path) -> dict[str, Path]:
    """``evil<suffix>`` in every model folder: a state dict with a code-running object inside."""
    written = {}
    for folder, suffix in PICKLE_FOLDERS.items():
        path = root / folder / f"evil{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": {"weight": torch.zeros(2)}, "callback": Payload(marker)}, path)
        written[folder] = path
    return written


def write_placeholders(root: Path) -> dict[str, list[Path]]:
    """In each folder: a zero-byte file, a link to nowhere, a folder named ``*.safetensors``."""
    written: dict[str, list[Path]] = {}
    for folder in PLACEHOLDER_FOLDERS:
        base = root / folder
        base.mkdir(parents=True, exist_ok=True)
        empty, dangling, directory = base / "empty.safetensors", base / "dangling.safetensors", base / "folder.safetensors"
        empty.write_bytes(b"")
        os.symlink(base / "deleted-long-ago.safetensors", dangling)
        directory.mkdir()
        written[folder] = [empty, dangling, directory]
    return written


def assert_user_wording(text: str) -> None:
    """A refusal a person can act on: Atelier's one sentence, never torch's retry advice."""
    assert REFUSED in text, text
    for advice in TORCH_ADVICE:
        assert advice not in text, text
