"""TAESD live previews: a tiny decoder turns latents into a recognisable picture each step.

Used when ``models/VAE-taesd/`` holds A1111's ``taesd_decoder.*`` (SD1/SD2) or
``taesdxl_decoder.*`` (SDXL) weights; otherwise the cheap linear approximation is used.
The decoder lives in the shared model cache like every other model.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from PIL import Image

from pipelines.device import DevicePolicy
from pipelines.diffusion.preview import latents_to_preview, rgb_to_image
from pipelines.models.architecture import Architecture
from pipelines.models.cache import ModelCache
from pipelines.models.loader import module_bytes
from pipelines.models.tensorfile import read_tensor_file

log = logging.getLogger(__name__)

TAESD_FOLDER = "VAE-taesd"
SUFFIXES = (".safetensors", ".pth", ".pt")
# The original TAESD decoder is nn.Sequential(Clamp(), conv, …): diffusers' DecoderTiny applies
# the clamp in forward() and numbers its layers from 0, so "N.x" becomes "layers.{N-1}.x".
_ORIGINAL_KEY = re.compile(r"^(\d+)\.(.+)$")


def decoder_file(models_dir: Path, arch: Architecture) -> Optional[Path]:
    """The TAESD decoder for ``arch`` under ``models/VAE-taesd`` (A1111 file names), if any."""
    stem = "taesdxl_decoder" if arch.is_xl else "taesd_decoder"
    folder = models_dir / TAESD_FOLDER
    for suffix in SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def diffusers_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A decoder state dict in DecoderTiny's names, from the original or diffusers layout."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("decoder.")
        match = _ORIGINAL_KEY.match(key)
        out[f"layers.{int(match.group(1)) - 1}.{match.group(2)}" if match else key] = value
    return out


def load_decoder(path: Path, policy: DevicePolicy) -> torch.nn.Module:
    """diffusers' AutoencoderTiny decoder with the file's weights (no pickled code runs)."""
    from diffusers import AutoencoderTiny

    decoder = AutoencoderTiny().decoder
    decoder.load_state_dict(diffusers_keys(read_tensor_file(path)))
    return decoder.eval().to(policy.device, policy.dtype)


class TaesdPreviewer:
    """Latents → preview image with TAESD when its weights exist, else the cheap approximation."""

    def __init__(self, models_dir: Path, cache: ModelCache, policy: DevicePolicy) -> None:
        self.models_dir, self.cache, self.policy = models_dir, cache, policy

    def decoder(self, arch: Architecture) -> Optional[torch.nn.Module]:
        path = decoder_file(self.models_dir, arch)
        if path is None:
            return None
        key = ("taesd", str(path))
        decoder = self.cache.get(key)
        if decoder is None:
            try:
                decoder = load_decoder(path, self.policy)
            except Exception as exc:  # a broken file must never stop generation
                log.warning("TAESD decoder %s unusable (%s); using the cheap preview", path, exc)
                return None
            self.cache.put(key, decoder, module_bytes(decoder))
        return decoder

    def __call__(self, latents: torch.Tensor, arch: Architecture, index: int = 0) -> Image.Image:
        decoder = self.decoder(arch)
        if decoder is None:
            return latents_to_preview(latents, arch, index)
        sample = latents[index:index + 1, :4].detach().to(self.policy.device, self.policy.dtype)
        with torch.no_grad():
            return rgb_to_image(decoder(sample)[0])  # DecoderTiny answers in [-1, 1]


def setting_previewer(method: Callable[[], str], models_dir: Path, cache: ModelCache,
                      policy: DevicePolicy) -> Callable[[], Any]:
    """The preview function the ``show_progress_type`` setting names at the moment of asking:
    handed to the engine once, so a settings change needs no re-wiring."""
    taesd = TaesdPreviewer(models_dir, cache, policy)
    return lambda: taesd if method() == "TAESD" else latents_to_preview
