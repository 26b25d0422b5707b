"""Write diffusers-layout weights back into the original single-file "LDM" layout.

Community checkpoints (AUTOMATIC1111, ComfyUI, Civitai) are stored in the layout of the original
CompVis / Stability repositories. Diffusers reads them with the converters in
``diffusers.loaders.single_file_utils``; this module is the exact inverse of those converters, so a
model built or trained in diffusers can be saved as a file any of those tools (and Atelier) load.
The mapping is derived from the UNet and VAE configs, so tiny test models and full-size models
export alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from pipelines.models.architecture import ModelFamily

Tensor = torch.Tensor
StateDict = Mapping[str, Tensor]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_CLIP_PREFIX = "cond_stage_model.transformer."
SD2_OPEN_CLIP_PREFIX = "cond_stage_model.model."
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."
REFINER_OPEN_CLIP_PREFIX = "conditioner.embedders.0.model."

# A trained CLIP saturates its logit scale at ln(100); OpenCLIP stores it though SD never uses it.
_OPEN_CLIP_LOGIT_SCALE = math.log(100.0)

_UNET_TOP_LEVEL = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    # SDXL's text_time embedding and the class embedding share LDM's ``label_emb`` slot.
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
}

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}

_VAE_TOP_LEVEL = {
    "encoder.conv_norm_out": "encoder.norm_out",
    "decoder.conv_norm_out": "decoder.norm_out",
}

_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
    # names used by diffusers before the attention processor rewrite
    "query": "q",
    "key": "k",
    "value": "v",
    "proj_attn": "proj_out",
}

_OPEN_CLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}

# Non-layer HF keys read directly by export_open_clip (position_ids is a buffer OpenCLIP lacks).
_OPEN_CLIP_HANDLED = frozenset(
    {
        "embeddings.token_embedding.weight",
        "embeddings.position_embedding.weight",
        "embeddings.position_ids",
        "final_layer_norm.weight",
        "final_layer_norm.bias",
    }
)


# --------------------------------------------------------------------------------------------- UNet


def _layers_per_block(unet_config: Mapping[str, Any]) -> int:
    """LDM numbering needs one layer count; diffusers' loader cannot read per-block counts."""
    value = unet_config["layers_per_block"]
    if isinstance(value, int):
        return value
    counts = set(value)
    if len(counts) != 1:
        raise ValueError(f"per-block layers_per_block {value!r} has no LDM single-file layout")
    return counts.pop()


def _rename_head(rest: str, table: Mapping[str, str]) -> str:
    """Rename the leading module path of ``rest`` (e.g. ``norm1.weight``) through ``table``."""
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def _upsampler_slot(unet: StateDict, block: int) -> int:
    """LDM puts an up block's upsampler after its attention if it has one (``.2``), else ``.1``."""
    has_attention = any(k.startswith(f"up_blocks.{block}.attentions.") for k in unet)
    return 2 if has_attention else 1


def _unet_key(key: str, unet: StateDict, per_block: int) -> str:
    """Map one diffusers UNet key to its LDM name (without ``model.diffusion_model.``)."""
    # LDM gives every block one extra slot: the down/up sampler, or the up block's extra resnet.
    stride = per_block + 1
    head, _, leaf = key.rpartition(".")
    if head in _UNET_TOP_LEVEL:
        return f"{_UNET_TOP_LEVEL[head]}.{leaf}"

    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        index = 1 + int(m[1]) * stride + int(m[2])
        return f"input_blocks.{index}.0.{_rename_head(m[3], _UNET_RESNET)}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * stride + int(m[2])}.1.{m[3]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * stride + per_block}.0.op.{m[2]}"

    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_rename_head(m[2], _UNET_RESNET)}"
    if m := re.fullmatch(r"mid_block\.attentions\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1]) + 1}.{m[2]}"

    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        index = int(m[1]) * stride + int(m[2])
        return f"output_blocks.{index}.0.{_rename_head(m[3], _UNET_RESNET)}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        return f"output_blocks.{int(m[1]) * stride + int(m[2])}.1.{m[3]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        block = int(m[1])
        index = block * stride + per_block
        return f"output_blocks.{index}.{_upsampler_slot(unet, block)}.conv.{m[2]}"

    raise ValueError(f"UNet key {key!r} has no LDM equivalent")


def export_unet(unet: StateDict, unet_config: Mapping[str, Any]) -> dict[str, Tensor]:
    """Convert a diffusers ``UNet2DConditionModel`` state dict to LDM names (no prefix)."""
    per_block = _layers_per_block(unet_config)
    out: dict[str, Tensor] = {}
    for key, value in unet.items():
        new_key = _unet_key(key, unet, per_block)
        if new_key in out:
            raise ValueError(f"two UNet keys map to {new_key!r} (class and addition embedding?)")
        out[new_key] = value
    return out


# ---------------------------------------------------------------------------------------------- VAE


def _vae_attention(rest: str, value: Tensor) -> tuple[str, Tensor]:
    """LDM's VAE attention uses 1x1 convolutions where diffusers uses linear layers."""
    name = _rename_head(rest, _VAE_ATTENTION)
    if value.ndim == 2:
        value = value[:, :, None, None]
    return name, value


def _vae_item(key: str, value: Tensor, num_up: int) -> tuple[str, Tensor]:
    """Map one diffusers VAE key (and maybe reshape its tensor) to the LDM layout."""
    head, _, leaf = key.rpartition(".")
    if head in _VAE_TOP_LEVEL:
        return f"{_VAE_TOP_LEVEL[head]}.{leaf}", value
    if re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out)|(post_)?quant_conv", head):
        return key, value

    shortcut = {"conv_shortcut": "nin_shortcut"}
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{_rename_head(m[3], shortcut)}", value
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}", value
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{_rename_head(m[3], shortcut)}", value
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
        name, value = _vae_attention(m[2], value)
        return f"{m[1]}.mid.attn_1.{name}", value
    # LDM numbers decoder levels from the lowest resolution up; diffusers from the top down.
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        level = num_up - 1 - int(m[1])
        return f"decoder.up.{level}.block.{m[2]}.{_rename_head(m[3], shortcut)}", value
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{num_up - 1 - int(m[1])}.upsample.conv.{m[2]}", value

    raise ValueError(f"VAE key {key!r} has no LDM equivalent")


def export_vae(vae: StateDict, vae_config: Mapping[str, Any]) -> dict[str, Tensor]:
    """Convert a diffusers ``AutoencoderKL`` state dict to LDM names (no prefix).

    The result is exactly what standalone A1111 VAE files (``models/VAE/*.safetensors``) contain.
    """
    num_up = len(vae_config["up_block_types"])
    out: dict[str, Tensor] = {}
    for key, value in vae.items():
        new_key, new_value = _vae_item(key, value, num_up)
        out[new_key] = new_value
    return out


# ------------------------------------------------------------------------------------ text encoders


def export_clip(text_encoder: StateDict) -> dict[str, Tensor]:
    """HF CLIP text encoder keys as LDM stores them under ``...transformer.`` (``text_model.*``).

    transformers >= 5.6 flattened ``CLIPTextModel`` (no ``text_model.`` level); files keep it.
    """
    out: dict[str, Tensor] = {}
    for key, value in text_encoder.items():
        keep = key.startswith("text_model.") or key.startswith("text_projection.")
        out[key if keep else f"text_model.{key}"] = value
    return out


def _text_model_keys(text_encoder: StateDict) -> dict[str, Tensor]:
    """Strip the optional ``text_model.`` level so flat and wrapped CLIP models look alike."""
    return {k.removeprefix("text_model."): v for k, v in text_encoder.items()}


def _open_clip_block(layer: int, params: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """One OpenCLIP residual block from an HF encoder layer's parameters (names below the layer)."""
    base = f"transformer.resblocks.{layer}."
    out: dict[str, Tensor] = {}
    for name in ("weight", "bias"):
        parts = [params[f"self_attn.{p}_proj.{name}"] for p in ("q", "k", "v")]
        out[f"{base}attn.in_proj_{name}"] = torch.cat(parts, dim=0)
    for key, value in params.items():
        if re.fullmatch(r"self_attn\.[qkv]_proj\.(weight|bias)", key):
            continue
        renamed = _rename_head(key, _OPEN_CLIP_LAYER)
        if renamed == key:
            raise ValueError(f"CLIP layer parameter {key!r} has no OpenCLIP equivalent")
        out[base + renamed] = value
    return out


def _identity_block(layer: int, hidden: int, mlp: int, like: Tensor) -> dict[str, Tensor]:
    """A residual block that returns its input unchanged: zero attention and MLP outputs."""
    base = f"transformer.resblocks.{layer}."

    def zeros(*shape: int) -> Tensor:
        return torch.zeros(shape, dtype=like.dtype)

    return {
        f"{base}ln_1.weight": torch.ones(hidden, dtype=like.dtype),
        f"{base}ln_1.bias": zeros(hidden),
        f"{base}attn.in_proj_weight": zeros(3 * hidden, hidden),
        f"{base}attn.in_proj_bias": zeros(3 * hidden),
        f"{base}attn.out_proj.weight": zeros(hidden, hidden),
        f"{base}attn.out_proj.bias": zeros(hidden),
        f"{base}ln_2.weight": torch.ones(hidden, dtype=like.dtype),
        f"{base}ln_2.bias": zeros(hidden),
        f"{base}mlp.c_fc.weight": zeros(mlp, hidden),
        f"{base}mlp.c_fc.bias": zeros(mlp),
        f"{base}mlp.c_proj.weight": zeros(hidden, mlp),
        f"{base}mlp.c_proj.bias": zeros(hidden),
    }


def export_open_clip(
    text_encoder: StateDict, *, pad_final_layer: bool = False
) -> dict[str, Tensor]:
    """Convert an HF CLIP text encoder to the OpenCLIP layout of SD2 and SDXL files (no prefix).

    ``text_projection`` becomes a bare ``[hidden, proj]`` matrix (OpenCLIP multiplies ``x @ P``,
    HF's Linear stores ``P.T``). ``pad_final_layer`` appends the resblock that SD2's HF encoder
    drops (SD2 conditions on OpenCLIP's penultimate layer, so diffusers ships 23 of 24 layers): it
    is written as an identity block, plus an identity ``text_projection`` if the encoder has none,
    so the file has the shape of a real SD2 file while every weight the model uses stays exact.
    """
    flat = _text_model_keys(text_encoder)
    token = flat["embeddings.token_embedding.weight"]
    out: dict[str, Tensor] = {
        "token_embedding.weight": token,
        "positional_embedding": flat["embeddings.position_embedding.weight"],
        "ln_final.weight": flat["final_layer_norm.weight"],
        "ln_final.bias": flat["final_layer_norm.bias"],
    }
    layers: dict[int, dict[str, Tensor]] = {}
    for key, value in flat.items():
        if m := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", key):
            layers.setdefault(int(m[1]), {})[m[2]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key not in _OPEN_CLIP_HANDLED:
            raise ValueError(f"CLIP key {key!r} has no OpenCLIP equivalent")
    for layer in sorted(layers):
        out.update(_open_clip_block(layer, layers[layer]))

    hidden = token.shape[1]
    if pad_final_layer:
        mlp = layers[0]["mlp.fc1.weight"].shape[0]
        out.update(_identity_block(len(layers), hidden, mlp, token))
        out.setdefault("text_projection", torch.eye(hidden, dtype=token.dtype))
    out["logit_scale"] = torch.tensor(_OPEN_CLIP_LOGIT_SCALE, dtype=token.dtype)
    return out


# ------------------------------------------------------------------------------------- whole model


def _prefixed(prefix: str, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {prefix + k: v for k, v in state.items()}


def _text_encoders(
    family: ModelFamily,
    text_encoder: StateDict | None,
    text_encoder_2: StateDict | None,
    pad_sd2_text_encoder: bool,
) -> dict[str, Tensor]:
    """The family's text-encoder section(s) with their LDM prefixes."""
    needs_first = family is not ModelFamily.SDXL_REFINER
    needs_second = family in (ModelFamily.SDXL, ModelFamily.SDXL_REFINER)
    if needs_first and text_encoder is None:
        raise ValueError(f"{family.value} needs text_encoder")
    if needs_second and text_encoder_2 is None:
        raise ValueError(f"{family.value} needs text_encoder_2")
    if not needs_second and text_encoder_2 is not None:
        raise ValueError(f"{family.value} has no second text encoder")
    if not needs_first and text_encoder is not None:
        raise ValueError("the SDXL refiner has only the OpenCLIP (text_encoder_2) encoder")

    if family is ModelFamily.SD1:
        return _prefixed(SD1_CLIP_PREFIX, export_clip(text_encoder))
    if family is ModelFamily.SD2:
        state = export_open_clip(text_encoder, pad_final_layer=pad_sd2_text_encoder)
        return _prefixed(SD2_OPEN_CLIP_PREFIX, state)
    if family is ModelFamily.SDXL:
        return {
            **_prefixed(SDXL_CLIP_PREFIX, export_clip(text_encoder)),
            **_prefixed(SDXL_OPEN_CLIP_PREFIX, export_open_clip(text_encoder_2)),
        }
    return _prefixed(REFINER_OPEN_CLIP_PREFIX, export_open_clip(text_encoder_2))


def export_ldm_state_dict(
    unet: StateDict,
    vae: StateDict,
    text_encoder: StateDict | None,
    text_encoder_2: StateDict | None,
    *,
    family: ModelFamily,
    unet_config: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    pad_sd2_text_encoder: bool = True,
) -> dict[str, Tensor]:
    """Build a complete single-file checkpoint state dict from diffusers component state dicts.

    ``text_encoder`` is the HF CLIP encoder (SD2: the OpenCLIP-H encoder in HF form);
    ``text_encoder_2`` is SDXL's OpenCLIP-bigG encoder (the refiner's only one). Tensors are
    shared with the inputs where the layout allows (no copy of a multi-GB model); fused q/k/v,
    transposed projections and padding are new tensors. Pass the result through ``.contiguous()``
    before ``safetensors.torch.save_file`` if the inputs may be views.
    ``pad_sd2_text_encoder``: see ``export_open_clip``.
    """
    return {
        **_prefixed(UNET_PREFIX, export_unet(unet, unet_config)),
        **_prefixed(VAE_PREFIX, export_vae(vae, vae_config)),
        **_text_encoders(family, text_encoder, text_encoder_2, pad_sd2_text_encoder),
    }
