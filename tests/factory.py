"""Tiny random-weight Stable Diffusion checkpoints in the real single-file (LDM) layout.

Tests cannot download weights, so they build their own: each kind has the real family's structure
(block types, attention layout, text encoders, conditioning) at toy sizes, is exported with
``pipelines.models.ldm_export`` exactly as community checkpoints are laid out, and gets a sidecar
``<name>.config/`` diffusers folder (model_index.json + component configs, no tokenizer) that
``from_single_file(path, config=...)`` reads instead of the Hub.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    UNet2DConditionModel,
)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from pipelines.models.architecture import ModelFamily
from pipelines.models.ldm_export import export_ldm_state_dict, export_vae

KINDS = ("sd1", "sd1-inpaint", "sd2", "sdxl", "sdxl-refiner")

# Sizes: CLIP-L stand-in 32 wide; the OpenCLIP-bigG stand-in must differ (48), because diffusers
# tells SDXL's two encoders apart by position-embedding width.
_CLIP_WIDTH = 32
_BIGG_WIDTH = 48
_PROJECTION = 32
_TIME_EMBED = 8


@dataclass
class TinyModel:
    """The diffusers components of one tiny checkpoint, before export."""

    kind: str
    family: ModelFamily
    pipeline_class: str
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel | None
    text_encoder_2: CLIPTextModelWithProjection | None
    scheduler: Any
    pipeline_extras: dict[str, Any] = field(default_factory=dict)

    def components(self) -> dict[str, torch.nn.Module]:
        """The weight-bearing components by pipeline attribute name."""
        parts = {
            "unet": self.unet,
            "vae": self.vae,
            "text_encoder": self.text_encoder,
            "text_encoder_2": self.text_encoder_2,
        }
        return {k: v for k, v in parts.items() if v is not None}


# ----------------------------------------------------------------------------------------- configs


def clip_config(
    width: int = _CLIP_WIDTH, layers: int = 2, act: str = "quick_gelu"
) -> CLIPTextConfig:
    """A CLIP text encoder with the real vocabulary and context, so the real tokenizer fits."""
    return CLIPTextConfig(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=37,
        vocab_size=49408,
        max_position_embeddings=77,
        projection_dim=_PROJECTION,
        hidden_act=act,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )


def vae_config() -> dict[str, Any]:
    """Four levels like the real VAE (x8 downscale); uneven widths exercise the shortcut convs."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [16, 32, 32, 32],
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "latent_channels": 4,
        "sample_size": 64,
        "scaling_factor": 0.18215,
    }


def _unet_config(kind: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sample_size": 8,
        "in_channels": 9 if kind == "sd1-inpaint" else 4,
        "out_channels": 4,
        "block_out_channels": [32, 64],
        "layers_per_block": 2,
        "norm_num_groups": 32,
    }
    if kind in ("sd1", "sd1-inpaint", "sd2"):
        # SD1/SD2: attention on every level but the lowest, like the real 4-level UNet.
        base.update(
            down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
            cross_attention_dim=_CLIP_WIDTH,
            attention_head_dim=[2, 4] if kind == "sd2" else 4,
            use_linear_projection=kind == "sd2",
        )
        return base
    # SDXL: no attention on the top level, several transformer layers lower down.
    refiner = kind == "sdxl-refiner"
    time_ids = 5 if refiner else 6  # the refiner swaps the target size for an aesthetic score
    base.update(
        down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
        up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
        transformer_layers_per_block=[1, 2],
        cross_attention_dim=_BIGG_WIDTH if refiner else _CLIP_WIDTH + _BIGG_WIDTH,
        attention_head_dim=[2, 4],
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=_TIME_EMBED,
        projection_class_embeddings_input_dim=time_ids * _TIME_EMBED + _PROJECTION,
    )
    return base


_SD_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
}


def _scheduler(kind: str) -> Any:
    if kind.startswith("sdxl"):
        return EulerDiscreteScheduler(**_SD_SCHEDULE, timestep_spacing="leading")
    if kind == "sd2":
        return DDIMScheduler(**_SD_SCHEDULE, clip_sample=False, set_alpha_to_one=False)
    return PNDMScheduler(**_SD_SCHEDULE, skip_prk_steps=True, set_alpha_to_one=False)


# ------------------------------------------------------------------------------------------ models


def _jitter(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Perturb every parameter so no two same-shaped tensors are equal (norms start at 1, biases
    at 0); a round-trip that swapped two of them must then fail, not pass by coincidence."""
    with torch.no_grad():
        for param in module.parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
            param.add_(noise * 0.02)


_PIPELINES = {
    "sd1": (ModelFamily.SD1, "StableDiffusionPipeline"),
    "sd1-inpaint": (ModelFamily.SD1, "StableDiffusionInpaintPipeline"),
    "sd2": (ModelFamily.SD2, "StableDiffusionPipeline"),
    "sdxl": (ModelFamily.SDXL, "StableDiffusionXLPipeline"),
    "sdxl-refiner": (ModelFamily.SDXL_REFINER, "StableDiffusionXLImg2ImgPipeline"),
}


def build_models(kind: str = "sd1", seed: int = 0) -> TinyModel:
    """Create the diffusers components for ``kind`` with deterministic random weights."""
    if kind not in _PIPELINES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    family, pipeline_class = _PIPELINES[kind]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**_unet_config(kind))
    vae = AutoencoderKL(**vae_config())
    text_encoder = text_encoder_2 = None
    if kind in ("sd1", "sd1-inpaint"):
        text_encoder = CLIPTextModel(clip_config())
    elif kind == "sd2":
        text_encoder = CLIPTextModel(clip_config(act="gelu"))
    else:
        # 10 layers so structural probes such as ``...resblocks.9.mlp.c_proj.bias`` exist.
        text_encoder_2 = CLIPTextModelWithProjection(
            clip_config(_BIGG_WIDTH, layers=10, act="gelu")
        )
        if kind == "sdxl":
            text_encoder = CLIPTextModel(clip_config())

    generator = torch.Generator().manual_seed(seed + 1)
    model = TinyModel(
        kind, family, pipeline_class, unet, vae, text_encoder, text_encoder_2, _scheduler(kind)
    )
    for module in model.components().values():
        _jitter(module, generator)
        module.eval()
    if kind == "sdxl-refiner":
        model.pipeline_extras = {
            "requires_aesthetics_score": True,
            "force_zeros_for_empty_prompt": False,
        }
    elif kind == "sdxl":
        model.pipeline_extras = {"force_zeros_for_empty_prompt": True}
    else:
        model.pipeline_extras = {"requires_safety_checker": False}
    return model


def export_model(model: TinyModel) -> dict[str, torch.Tensor]:
    """The model's single-file (LDM) state dict."""
    te = model.text_encoder.state_dict() if model.text_encoder is not None else None
    te2 = model.text_encoder_2.state_dict() if model.text_encoder_2 is not None else None
    state = export_ldm_state_dict(
        model.unet.state_dict(),
        model.vae.state_dict(),
        te,
        te2,
        family=model.family,
        unet_config=dict(model.unet.config),
        vae_config=dict(model.vae.config),
    )
    return {k: v.detach().contiguous() for k, v in state.items()}


# ----------------------------------------------------------------------------------------- sidecar


def _model_index(model: TinyModel) -> dict[str, Any]:
    null = [None, None]
    has_te = model.text_encoder is not None
    index: dict[str, Any] = {
        "_class_name": model.pipeline_class,
        "_diffusers_version": "0.42.1",
        "scheduler": ["diffusers", type(model.scheduler).__name__],
        "text_encoder": ["transformers", type(model.text_encoder).__name__] if has_te else null,
        "tokenizer": ["transformers", "CLIPTokenizer"] if has_te else null,
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "feature_extractor": null,
        "image_encoder": null,
    }
    if model.family in (ModelFamily.SDXL, ModelFamily.SDXL_REFINER):
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
        index["tokenizer_2"] = ["transformers", "CLIPTokenizer"]
    else:
        index["safety_checker"] = null
    index.update(model.pipeline_extras)
    return index


def write_sidecar(model: TinyModel, folder: Path) -> Path:
    """Write the diffusers config folder (no weights, no tokenizer) that describes ``model``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(_model_index(model), indent=2))
    model.unet.save_config(folder / "unet")
    model.vae.save_config(folder / "vae")
    model.scheduler.save_config(folder / "scheduler")
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(model, name)
        if encoder is not None:
            encoder.config.save_pretrained(folder / name)
    return folder


def sidecar_dir(checkpoint: Path) -> Path:
    """Where ``build_checkpoint`` puts the config folder of ``checkpoint``."""
    return checkpoint.with_name(checkpoint.stem + ".config")


def write_checkpoint(
    model: TinyModel, models_dir: Path, name: str, subdir: str = "Stable-diffusion"
) -> Path:
    """Save ``model`` as ``<models_dir>/<subdir>/<name>.safetensors`` plus its sidecar folder."""
    path = Path(models_dir) / subdir / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(export_model(model), str(path), metadata={"format": "pt"})
    write_sidecar(model, sidecar_dir(path))
    return path


def build_checkpoint(
    models_dir: Path,
    kind: str = "sd1",
    name: str = "tiny-sd1",
    seed: int = 0,
    subdir: str = "Stable-diffusion",
) -> Path:
    """Build a tiny ``kind`` checkpoint in single-file layout and return its ``.safetensors`` path.

    ``kind`` is one of ``KINDS``. The same ``seed`` gives bit-identical weights, so tests can
    rebuild the source models with ``build_models(kind, seed)`` to compare against.
    """
    return write_checkpoint(build_models(kind, seed), models_dir, name, subdir)


def build_vae_model(seed: int = 7) -> AutoencoderKL:
    """The diffusers VAE that ``build_vae(..., seed=seed)`` writes."""
    torch.manual_seed(seed)
    vae = AutoencoderKL(**vae_config())
    _jitter(vae, torch.Generator().manual_seed(seed + 1))
    return vae.eval()


def build_vae(models_dir: Path, name: str = "tiny-vae", seed: int = 7) -> Path:
    """Write a standalone VAE like A1111's ``models/VAE`` files: LDM keys, no prefix.

    Its architecture is ``vae_config()``, the one every tiny checkpoint uses, so it can override
    any of their VAEs; the different seed makes its weights (and images) differ.
    """
    vae = build_vae_model(seed)
    path = Path(models_dir) / "VAE" / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = export_vae(vae.state_dict(), dict(vae.config))
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path))
    return path


def write_corrupt_files(models_dir: Path) -> list[Path]:
    """Files a catalog must survive: truncated, not a Stable Diffusion model, not a checkpoint."""
    folder = Path(models_dir) / "Stable-diffusion"
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(1234)

    truncated = folder / "broken-truncated.safetensors"
    save_file(
        {
            "model.diffusion_model.input_blocks.0.0.weight": torch.randn(
                32, 4, 3, 3, generator=generator
            )
        },
        str(truncated),
    )
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])

    unrelated = folder / "not-a-model.safetensors"
    tensors = {
        "encoder.layer.0.dense.weight": torch.randn(16, 16, generator=generator),
        "classifier.bias": torch.randn(10, generator=generator),
    }
    save_file(tensors, str(unrelated))

    garbage = folder / "garbage.ckpt"
    garbage.write_bytes(
        torch.randint(0, 256, (4096,), generator=generator, dtype=torch.uint8).numpy().tobytes()
    )
    return [truncated, unrelated, garbage]
