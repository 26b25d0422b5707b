"""Checkpoint file → shared diffusers components → pipelines for every mode.

A checkpoint is loaded once; txt2img, img2img and inpaint pipelines are thin views over the
same UNet / VAE / text-encoder modules, so no mode holds a second copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)

from pipelines import configs
from pipelines.device import DevicePolicy
from pipelines.models.architecture import Architecture, ModelFamily, PredictionType
from pipelines.models.catalog import CheckpointInfo, VaeInfo

log = logging.getLogger(__name__)

Mode = Literal["txt2img", "img2img", "inpaint"]

_PIPELINES: dict[tuple[bool, str], type[DiffusionPipeline]] = {
    (False, "txt2img"): StableDiffusionPipeline,
    (False, "img2img"): StableDiffusionImg2ImgPipeline,
    (False, "inpaint"): StableDiffusionInpaintPipeline,
    (True, "txt2img"): StableDiffusionXLPipeline,
    (True, "img2img"): StableDiffusionXLImg2ImgPipeline,
    (True, "inpaint"): StableDiffusionXLInpaintPipeline,
}


class ModelLoadError(RuntimeError):
    """A checkpoint that could not be loaded; the message says which file and why."""


def pipeline_class(arch: Architecture, mode: Mode) -> type[DiffusionPipeline]:
    """The diffusers pipeline class for an architecture and mode.

    Inpainting checkpoints (9-channel UNet) run every mode through the inpaint pipeline, as
    A1111 does (a full mask makes it plain img2img / txt2img); the SDXL refiner only refines.
    """
    if arch.family is ModelFamily.SDXL_REFINER:
        return StableDiffusionXLImg2ImgPipeline
    if arch.inpaint:
        mode = "inpaint"
    return _PIPELINES[(arch.is_xl, mode)]


def module_bytes(*modules: Any) -> int:
    """Bytes held by the parameters and buffers of torch modules (others count 0)."""
    total = 0
    for module in modules:
        if isinstance(module, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in module.parameters())
            total += sum(t.numel() * t.element_size() for t in module.buffers())
    return total


@dataclass
class LoadedCheckpoint:
    """A checkpoint in memory: its components and the per-mode pipelines that share them."""

    info: CheckpointInfo
    architecture: Architecture
    components: dict[str, Any]
    scheduler_config: dict[str, Any]
    base_vae: Any
    pipeline_options: dict[str, Any] = field(default_factory=dict)
    vae: Optional[VaeInfo] = None
    _pipelines: dict[str, DiffusionPipeline] = field(default_factory=dict)

    def pipeline(self, mode: Mode) -> DiffusionPipeline:
        """The pipeline for ``mode``, built once from the shared components."""
        cls = pipeline_class(self.architecture, mode)
        pipe = self._pipelines.get(cls.__name__)
        if pipe is None:
            modules, options = cls._get_signature_keys(cls)
            kwargs = {k: v for k, v in self.components.items() if k in modules}
            kwargs.update({k: v for k, v in self.pipeline_options.items() if k in options})
            pipe = cls(**kwargs)
            pipe.set_progress_bar_config(disable=True)
            self._pipelines[cls.__name__] = pipe
        return pipe

    def set_vae(self, vae_module: Any, vae: Optional[VaeInfo]) -> None:
        """Swap the VAE in every pipeline (``None`` info = the checkpoint's own VAE)."""
        self.components["vae"] = vae_module
        self.vae = vae
        for pipe in self._pipelines.values():
            pipe.register_modules(vae=vae_module)

    def modules(self) -> list[torch.nn.Module]:
        return [m for m in self.components.values() if isinstance(m, torch.nn.Module)]

    @property
    def nbytes(self) -> int:
        return module_bytes(*self.modules())

    def to(self, device: torch.device) -> None:
        for module in self.modules():
            module.to(device)
        if isinstance(self.base_vae, torch.nn.Module):
            self.base_vae.to(device)


def load_checkpoint(info: CheckpointInfo, policy: DevicePolicy) -> LoadedCheckpoint:
    """Load a catalogued checkpoint with diffusers' single-file loader, fully offline."""
    if not info.usable:
        raise ModelLoadError(f"{info.name} cannot be used: {info.error}")
    arch = info.architecture
    assert arch is not None
    config_dir = info.config_dir or configs.config_dir(arch)
    tokenizers = configs.load_tokenizers(arch, info.config_dir)
    cls = pipeline_class(arch, "txt2img")
    try:
        pipe = cls.from_single_file(
            str(info.path),
            config=str(config_dir),
            local_files_only=True,
            torch_dtype=policy.dtype,
            safety_checker=None,
            requires_safety_checker=False,
            **tokenizers,
        )
    except Exception as exc:  # diffusers raises many kinds; the user needs one clear message
        log.exception("loading %s failed", info.path)
        raise ModelLoadError(f"could not load {info.name}: {type(exc).__name__}: {exc}") from exc
    components = dict(pipe.components)
    # Non-module settings of the family (e.g. the refiner's aesthetic-score conditioning).
    options = {k: v for k, v in pipe.config.items() if not k.startswith("_") and k not in components}
    options["add_watermarker"] = False  # provenance marks are Atelier's job, applied once
    scheduler_config = dict(pipe.scheduler.config)
    if arch.prediction is PredictionType.V_PREDICTION:  # from the .yaml sidecar (identify_file)
        scheduler_config["prediction_type"] = PredictionType.V_PREDICTION.value
    loaded = LoadedCheckpoint(
        info=info,
        architecture=arch,
        components=components,
        scheduler_config=scheduler_config,
        base_vae=components["vae"],
        pipeline_options=options,
    )
    loaded.to(policy.device)
    return loaded


def load_vae(vae: VaeInfo, arch: Architecture, config_dir: Optional[Path], policy: DevicePolicy) -> AutoencoderKL:
    """Load a standalone VAE file (A1111 layout, with or without ``first_stage_model.``)."""
    folder = config_dir or configs.config_dir(arch)
    try:
        module = AutoencoderKL.from_single_file(
            str(vae.path), config=str(folder), subfolder="vae", local_files_only=True, torch_dtype=policy.dtype
        )
    except Exception as exc:
        raise ModelLoadError(f"could not load VAE {vae.name}: {type(exc).__name__}: {exc}") from exc
    return module.to(policy.device)
