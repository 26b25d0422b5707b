"""Tell which Stable Diffusion architecture a checkpoint is, from tensor names and shapes only.

Nothing here reads tensor data: ``.safetensors`` files are identified from their JSON header and
pickle checkpoints are opened with ``torch.load(weights_only=True, map_location="meta")``, which
refuses arbitrary code and allocates no memory for the weights.  Files that are not loadable SD
checkpoints raise :class:`UnsupportedModelError` with a reason a user can act on.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines.models.architecture import Architecture, ModelFamily, PredictionType, UnsupportedModelError

UNET_PREFIX = "model.diffusion_model."
_FIRST_CONV = UNET_PREFIX + "input_blocks.0.0.weight"
# safetensors itself refuses headers above 100 MB; anything bigger is not a real header.
_MAX_HEADER_BYTES = 100 * 1024 * 1024
SAFETENSORS_SUFFIXES = frozenset({".safetensors", ".sft"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin"})

# kohya (lora_down), diffusers (lora.down), PEFT (lora_A) naming.
_LORA_MARKERS = (".lora_down.", ".lora.down.", ".lora_A.")
# UNet cross-attention width (the text embedding size it reads) for each family.
_CONTEXT_DIMS = {768: ModelFamily.SD1, 1024: ModelFamily.SD2, 2048: ModelFamily.SDXL, 1280: ModelFamily.SDXL_REFINER}
_FAMILY_NAMES = {
    ModelFamily.SD1: "SD1 (CLIP ViT-L text encoder)",
    ModelFamily.SD2: "SD2 (OpenCLIP ViT-H text encoder)",
    ModelFamily.SDXL: "SDXL (CLIP ViT-L + OpenCLIP bigG text encoders)",
    ModelFamily.SDXL_REFINER: "SDXL refiner (OpenCLIP bigG text encoder only)",
}


class CorruptCheckpointError(UnsupportedModelError):
    """The file is truncated or is not the format its name claims."""


def identify(shapes: Mapping[str, Sequence[int]]) -> Architecture:
    """Classify a checkpoint from its ``{tensor name: shape}`` map.

    The text encoder's key prefix gives the family; the UNet's first convolution (9 input channels)
    marks inpainting models; a ``v_pred`` marker tensor (written by ComfyUI) marks v-prediction.
    The UNet's cross-attention width must agree with the text encoder, which catches broken merges.
    """
    keys = list(shapes)
    _reject_non_checkpoints(keys)
    if _FIRST_CONV not in shapes:
        raise UnsupportedModelError(_no_unet_reason(keys))

    family = _family_from_text_encoder(keys)
    context = _context_dim(shapes)
    # Only a width that belongs to another real family is a contradiction; unfamiliar widths
    # (toy test models, research variants) defer to the text encoder.
    if context in _CONTEXT_DIMS and _CONTEXT_DIMS[context] is not family:
        raise UnsupportedModelError(
            f"inconsistent checkpoint: the text encoder is {_FAMILY_NAMES[family]} but the UNet's "
            f"cross-attention expects {context}-wide text embeddings"
        )

    inpaint = _is_inpaint(shapes[_FIRST_CONV])
    if inpaint and family is ModelFamily.SDXL_REFINER:
        raise UnsupportedModelError("an inpainting SDXL refiner (9-channel UNet) is not a supported model")
    prediction = PredictionType.V_PREDICTION if "v_pred" in shapes else PredictionType.EPSILON
    return Architecture(family=family, inpaint=inpaint, prediction=prediction)


def _reject_non_checkpoints(keys: Sequence[str]) -> None:
    """Raise for the common files that are not full SD checkpoints, naming what they are."""
    if any(k.startswith(("lora_unet_", "lora_te")) or any(m in k for m in _LORA_MARKERS) for k in keys):
        raise UnsupportedModelError("this is a LoRA (lora_unet_*/lora_te* weights), not a checkpoint — put it in the LoRA folder")
    if any(k.startswith(("emb_params", "string_to_param", "string_to_token")) for k in keys) or (
        keys and set(keys) <= {"clip_l", "clip_g"}
    ):
        raise UnsupportedModelError("this is a textual-inversion embedding, not a checkpoint — put it in the embeddings folder")
    if any(k.startswith(("control_model.", "input_hint_block.", "controlnet_")) or ".input_hint_block." in k for k in keys):
        raise UnsupportedModelError("this is a ControlNet model, not a Stable Diffusion checkpoint")
    if any(".joint_blocks." in k or k.startswith("joint_blocks.") for k in keys):
        raise UnsupportedModelError("this is a Stable Diffusion 3 model (MMDiT joint_blocks), which Atelier does not support")
    if any(".double_blocks." in k or k.startswith("double_blocks.") for k in keys):
        raise UnsupportedModelError("this is a Flux model (double_blocks), which Atelier does not support")


def _no_unet_reason(keys: Sequence[str]) -> str:
    if not keys:
        return "the file contains no tensors"
    if any(k.startswith(UNET_PREFIX) for k in keys):
        return f"the UNet has no {_FIRST_CONV} tensor — an unknown or damaged UNet layout"
    if all(k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")) for k in keys):
        return "this is a standalone VAE (encoder.*/decoder.* only) — put it in the VAE folder"
    if any(k.startswith(("first_stage_model.encoder.", "first_stage_model.decoder.")) for k in keys) and not any(
        k.startswith(("cond_stage_model.", "conditioner.")) for k in keys
    ):
        return "this looks like a VAE saved in checkpoint layout (first_stage_model.* only) — put it in the VAE folder"
    if any(k.startswith(("conv_in.", "down_blocks.", "time_embedding.")) for k in keys):
        return "this is a diffusers-format UNet file, not a single-file checkpoint — load its diffusers folder instead"
    return f"no UNet weights ({UNET_PREFIX}*) — this looks like a LoRA / VAE / embedding or another kind of model file"


def _family_from_text_encoder(keys: Sequence[str]) -> ModelFamily:
    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("conditioner.embedders.1.model."):
        return ModelFamily.SDXL
    if has("conditioner.embedders.0.model.") and not has("conditioner.embedders.0.transformer."):
        return ModelFamily.SDXL_REFINER
    if has("cond_stage_model.model."):
        return ModelFamily.SD2
    if has("cond_stage_model.transformer."):
        return ModelFamily.SD1
    if has("conditioner."):
        raise UnsupportedModelError("unrecognised text encoders under conditioner.* — not an SDXL base or refiner layout")
    raise UnsupportedModelError(
        "the file has a UNet but no text encoder (cond_stage_model.* / conditioner.*) — "
        "a UNet-only file cannot be loaded as a checkpoint"
    )


def _context_dim(shapes: Mapping[str, Sequence[int]]) -> int | None:
    """Width of the text embeddings the UNet attends to, from any cross-attention key projection."""
    for key, shape in shapes.items():
        if key.startswith(UNET_PREFIX) and key.endswith(".attn2.to_k.weight") and len(shape) == 2:
            return int(shape[1])
    return None


def _is_inpaint(first_conv: Sequence[int]) -> bool:
    if len(first_conv) != 4:
        raise UnsupportedModelError(f"unexpected UNet input convolution shape {list(first_conv)}")
    channels = int(first_conv[1])
    if channels == 4:
        return False
    if channels == 9:
        return True
    kinds = {5: "a depth-conditioned model", 8: "an InstructPix2Pix-style edit model"}
    what = kinds.get(channels, "an unsupported variant")
    raise UnsupportedModelError(f"the UNet takes {channels} input channels ({what}); Atelier supports 4 (normal) or 9 (inpaint)")


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """Parse a ``.safetensors`` header (8-byte little-endian length, then JSON) without touching tensors.

    Returns the header dict, ``__metadata__`` included.  Raises :class:`CorruptCheckpointError` when
    the file is truncated or is not safetensors, since a bad file should say so rather than crash later.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise CorruptCheckpointError(f"{path.name}: {size} bytes is too short to be a .safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > _MAX_HEADER_BYTES or length > size - 8:
            raise CorruptCheckpointError(
                f"{path.name}: header claims {length} bytes but the file has {size - 8} after the length "
                "— truncated, or not a .safetensors file"
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{path.name}: the header is not valid JSON — not a .safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{path.name}: the header is not a JSON object")
    _check_tensor_entries(path.name, header, data_size=size - 8 - length)
    return header


def _check_tensor_entries(name: str, header: Mapping[str, Any], data_size: int) -> None:
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise CorruptCheckpointError(f"{name}: header entry {key!r} is not an object")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise CorruptCheckpointError(f"{name}: tensor {key!r} has an invalid shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise CorruptCheckpointError(f"{name}: tensor {key!r} has invalid data_offsets {offsets!r}")
        if offsets[1] > data_size:
            raise CorruptCheckpointError(
                f"{name}: tensor {key!r} ends at byte {offsets[1]} of a {data_size}-byte data section — the file is truncated"
            )


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """``{tensor name: shape}`` of a ``.safetensors`` file, from its header."""
    header = read_safetensors_header(path)
    return {key: entry["shape"] for key, entry in header.items() if key != "__metadata__"}


def pickle_shapes(path: Path) -> dict[str, list[int]]:
    """``{tensor name: shape}`` of a torch pickle checkpoint, loaded onto the meta device.

    ``weights_only=True`` means a file that needs to run code to unpickle (custom classes, e.g. a
    training callback saved alongside the weights) is refused rather than executed.
    """
    import torch

    with path.open("rb") as handle:
        magic = handle.read(4)
    is_zip = magic.startswith(b"PK")
    if not is_zip and not magic.startswith(b"\x80"):
        raise CorruptCheckpointError(f"{path.name}: not a PyTorch checkpoint (neither a zip archive nor a pickle)")
    from pipelines.models.pickles import RefusedPickleError, load_pickle

    try:
        loaded = load_pickle(path, map_location="meta", mmap=is_zip)
    except RefusedPickleError as exc:
        raise UnsupportedModelError(str(exc)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError) as exc:
        raise CorruptCheckpointError(f"{path.name}: could not read the checkpoint — truncated or damaged ({exc})") from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise UnsupportedModelError(f"{path.name}: the checkpoint holds no state dict")
    return {key: list(value.shape) for key, value in state.items() if isinstance(key, str) and isinstance(value, torch.Tensor)}


def read_sidecar_prediction(yaml_path: Path) -> PredictionType:
    """Prediction type from an A1111-style original config: ``model.params.parameterization: "v"``."""
    import yaml

    try:
        config = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UnsupportedModelError(f"{yaml_path.name}: the config sidecar is not valid YAML ({exc})") from None
    params = config.get("model", {}).get("params", {}) if isinstance(config, dict) else {}
    parameterization = params.get("parameterization") if isinstance(params, dict) else None
    return PredictionType.V_PREDICTION if parameterization == "v" else PredictionType.EPSILON


def find_yaml_sidecar(path: Path) -> Path | None:
    """The A1111 convention: ``model.safetensors`` may come with ``model.yaml`` beside it."""
    candidate = path.with_suffix(".yaml")
    return candidate if candidate.is_file() else None


def identify_file(path: Path, yaml_sidecar: Path | None = None) -> Architecture:
    """Identify a checkpoint file; a YAML sidecar, when given, can switch it to v-prediction."""
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        shapes = safetensors_shapes(path)
    elif suffix in PICKLE_SUFFIXES:
        shapes = pickle_shapes(path)
    else:
        raise UnsupportedModelError(f"{path.name}: unknown file type {suffix or '(none)'}; expected .safetensors or .ckpt")
    arch = identify(shapes)
    if yaml_sidecar is not None and read_sidecar_prediction(yaml_sidecar) is PredictionType.V_PREDICTION:
        arch = Architecture(family=arch.family, inpaint=arch.inpaint, prediction=PredictionType.V_PREDICTION)
    return arch
