"""LoRA and textual-inversion files for the tiny test models, in the layouts users download.

LoRAs get the real kohya-ss key names of the tiny models' layers (``lora_unet_…`` in diffusers
naming for SD1, in LDM naming for SDXL, ``lora_te_`` / ``lora_te1_`` / ``lora_te2_`` for the text
encoders), ``.alpha`` scalars and kohya's ``ss_*`` metadata; ``conv=True`` adds the LoCon
(LyCORIS ``conv_dim``) layers of the ResNet blocks and samplers. Up weights are non-zero, so a
LoRA visibly changes what the model computes. Embeddings come in A1111's ``.pt`` layout
(``string_to_param``), the single-tensor ``emb_params`` / diffusers-concept layouts and SDXL's
``clip_l`` / ``clip_g`` pairs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import save_file

from pipelines.models.ldm_export import export_unet
from tests.factory import TinyModel, build_models

Tensor = torch.Tensor

_XL_KINDS = ("sdxl", "sdxl-refiner")
_BASE_VERSION = {"sd1": "sd_v1", "sd1-inpaint": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}
_TE_PREFIXES = {"text_encoder": "lora_te", "text_encoder_2": "lora_te2"}
_XL_TE_PREFIXES = {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}


@lru_cache(maxsize=None)
def _shapes_model(kind: str) -> TinyModel:
    """A model of ``kind`` to read layer names and shapes from (weights do not matter)."""
    return build_models(kind, seed=0)


def _is_lora_layer(module: torch.nn.Module) -> bool:
    return isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))


def _unet_layers(model: TinyModel, conv: bool, only: Optional[str] = None) -> dict[str, torch.nn.Module]:
    """Diffusers module name → layer, for the layers kohya's LoRA (and LoCon) trains.

    Plain LoRA: every Linear / 1x1 conv inside the transformer blocks (``Transformer2DModel``).
    LoCon adds the ResNet blocks' convs and time projections and the down/up samplers.
    """
    layers = {}
    for name, module in model.unet.named_modules():
        if not _is_lora_layer(module):
            continue
        if only is not None and only not in name:
            continue
        in_attention = ".attentions." in name
        in_resnet = any(part in name for part in (".resnets.", ".downsamplers.", ".upsamplers."))
        if in_attention or (conv and in_resnet):
            layers[name] = module
    return layers


def _ldm_names(model: TinyModel) -> dict[str, str]:
    """Diffusers UNet module name → LDM (sgm) module name, as kohya names SDXL layers."""
    state = model.unet.state_dict()
    ldm = export_unet(state, dict(model.unet.config))
    return {d[: -len(".weight")]: l[: -len(".weight")] for d, l in zip(state, ldm) if d.endswith(".weight")}


def _pair(module: torch.nn.Module, rank: int, generator: torch.Generator, scale: float) -> tuple[Tensor, Tensor]:
    """kohya's ``lora_down`` / ``lora_up`` for one layer (convs: kxk down, 1x1 up)."""
    weight = module.weight
    if weight.ndim == 4:
        down = torch.randn(rank, weight.shape[1], *weight.shape[2:], generator=generator)
        up = torch.randn(weight.shape[0], rank, 1, 1, generator=generator)
    else:
        down = torch.randn(rank, weight.shape[1], generator=generator)
        up = torch.randn(weight.shape[0], rank, generator=generator)
    return down * scale, up * scale


def kohya_lora_state(
    kind: str = "sd1",
    rank: int = 4,
    seed: int = 0,
    include_te: bool = True,
    conv: bool = False,
    alpha: Optional[float] = None,
    scale: float = 0.3,
    only: Optional[str] = None,
) -> dict[str, Tensor]:
    """A kohya-ss LoRA state dict for the tiny ``kind`` model (deterministic for a ``seed``).

    ``only`` keeps the UNet layers whose diffusers name contains it (a small, fast LoRA)."""
    model = _shapes_model(kind)
    generator = torch.Generator().manual_seed(seed)
    alpha_value = torch.tensor(float(rank if alpha is None else alpha))
    xl = kind in _XL_KINDS
    names = _ldm_names(model) if xl else {}
    targets: dict[str, torch.nn.Module] = {}
    for name, module in _unet_layers(model, conv, only).items():
        targets["lora_unet_" + names.get(name, name).replace(".", "_")] = module
    if include_te:
        prefixes = _XL_TE_PREFIXES if xl else _TE_PREFIXES
        for component, prefix in prefixes.items():
            encoder = getattr(model, component)
            if encoder is None:
                continue
            for name, module in encoder.named_modules():
                if isinstance(module, torch.nn.Linear) and (".self_attn." in name or ".mlp." in name):
                    # transformers 5 flattens CLIPTextModel (no ``text_model.``); kohya keeps it
                    hf_name = "text_model." + name.removeprefix("text_model.")
                    targets[f"{prefix}_{hf_name.replace('.', '_')}"] = module
    state: dict[str, Tensor] = {}
    for key, module in targets.items():
        down, up = _pair(module, rank, generator, scale)
        state[f"{key}.lora_down.weight"] = down.contiguous()
        state[f"{key}.lora_up.weight"] = up.contiguous()
        state[f"{key}.alpha"] = alpha_value.clone()
    return state


def kohya_metadata(kind: str, name: str, rank: int, alpha: float, conv: bool) -> dict[str, str]:
    """The ``ss_*`` metadata kohya's sd-scripts writes (the keys A1111 reads)."""
    args = {"conv_dim": str(rank), "conv_alpha": str(alpha)} if conv else {}
    return {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_network_args": json.dumps(args) if args else "null",
        "ss_output_name": name,
        "ss_base_model_version": _BASE_VERSION.get(kind, kind),
        "ss_v2": str(kind == "sd2"),
        "ss_sd_model_name": f"tiny-{kind}.safetensors",
        "ss_resolution": "(64, 64)",
        "ss_clip_skip": "None",
        "ss_num_train_images": "4",
        "ss_epoch": "3",
        "ss_steps": "120",
        "ss_max_train_steps": "120",
        "ss_learning_rate": "0.0001",
        "ss_tag_frequency": json.dumps({"4_tiny": {"tiny": 4, "lighthouse": 3, "sea": 1},
                                        "1_reg": {"lighthouse": 2}}),
    }


def build_kohya_lora(
    models_dir: Path,
    kind: str = "sd1",
    name: str = "tiny-lora",
    rank: int = 4,
    seed: int = 0,
    include_te: bool = True,
    conv: bool = False,
    *,
    output_name: Optional[str] = None,
    subdir: str = "",
    fmt: str = "safetensors",
    extra_metadata: Optional[dict[str, str]] = None,
    scale: float = 0.3,
    only: Optional[str] = None,
) -> Path:
    """Write ``<models_dir>/Lora/<subdir>/<name>.<fmt>`` as kohya-ss saves it and return the path.

    ``output_name`` becomes ``ss_output_name`` (A1111's alias; default ``name``). ``fmt`` is
    ``safetensors`` (with metadata) or ``pt`` (a plain ``torch.save`` of the tensors); ``only``
    limits the UNet layers (see :func:`kohya_lora_state`).
    """
    alpha = rank / 2
    state = kohya_lora_state(kind, rank, seed, include_te, conv, alpha=alpha, scale=scale, only=only)
    folder = Path(models_dir) / "Lora" / subdir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{fmt}"
    if fmt == "safetensors":
        metadata = kohya_metadata(kind, output_name or name, rank, alpha, conv)
        metadata.update(extra_metadata or {})
        save_file(state, str(path), metadata=metadata)
    else:
        torch.save(state, path)
    return path


def build_peft_lora(models_dir: Path, kind: str = "sd1", name: str = "tiny-peft", rank: int = 4,
                    seed: int = 0) -> Path:
    """A diffusers/peft-format LoRA (``unet.<module>.lora_A.weight`` keys) on the UNet's attention."""
    model = _shapes_model(kind)
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}
    for module_name, module in _unet_layers(model, conv=False).items():
        if not isinstance(module, torch.nn.Linear):
            continue
        down, up = _pair(module, rank, generator, 0.3)
        state[f"unet.{module_name}.lora_A.weight"] = down.contiguous()
        state[f"unet.{module_name}.lora_B.weight"] = up.contiguous()
    path = Path(models_dir) / "Lora" / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt"})
    return path


# ------------------------------------------------------------------------------------ embeddings


def _encoder_widths(kind: str) -> dict[str, int]:
    model = _shapes_model(kind)
    widths = {}
    for component in ("text_encoder", "text_encoder_2"):
        encoder = getattr(model, component)
        if encoder is not None:
            widths[component] = encoder.config.hidden_size
    return widths


def embedding_vectors(kind: str = "sd1", vectors: int = 2, seed: int = 0) -> dict[str, Tensor]:
    """Deterministic TI vectors per text-encoder component for the tiny ``kind`` model."""
    generator = torch.Generator().manual_seed(seed)
    return {c: torch.randn(vectors, w, generator=generator) for c, w in _encoder_widths(kind).items()}


def build_embedding(
    folder: Path,
    name: str,
    kind: str = "sd1",
    vectors: int = 2,
    seed: int = 0,
    layout: str = "string_to_param",
) -> Path:
    """Write a textual-inversion file for the tiny ``kind`` model into ``folder``.

    ``layout``: ``string_to_param`` (A1111 ``.pt``), ``emb_params`` (``.safetensors``),
    ``concept`` (diffusers ``.bin``: one 1-D or 2-D tensor under the token), ``sdxl``
    (``.safetensors`` with ``clip_l`` / ``clip_g``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vecs = embedding_vectors(kind, vectors, seed)
    if layout == "sdxl":
        path = folder / f"{name}.safetensors"
        save_file({"clip_l": vecs["text_encoder"], "clip_g": vecs["text_encoder_2"]}, str(path))
        return path
    vec = vecs["text_encoder"]
    if layout == "emb_params":
        path = folder / f"{name}.safetensors"
        save_file({"emb_params": vec}, str(path))
    elif layout == "concept":
        path = folder / f"{name}.bin"
        torch.save({f"<{name}>": vec[0] if vectors == 1 else vec}, path)
    elif layout == "string_to_param":
        path = folder / f"{name}.pt"
        data = {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": vec},
            "name": name,
            "step": 100,
            "sd_checkpoint": "0123456789",
            "sd_checkpoint_name": f"tiny-{kind}",
        }
        torch.save(data, path)
    else:
        raise ValueError(f"unknown embedding layout {layout!r}")
    return path
