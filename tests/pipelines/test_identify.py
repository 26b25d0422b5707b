"""Checkpoint identification from tensor names and shapes, and safe reading of files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pipelines.models.architecture import Architecture, ModelFamily, PredictionType, UnsupportedModelError
from pipelines.models.identify import (
    CorruptCheckpointError,
    find_yaml_sidecar,
    identify,
    identify_file,
    read_safetensors_header,
)

torch.set_num_threads(1)

UNET = "model.diffusion_model."
VAE_KEY = "first_stage_model.decoder.conv_in.weight"
SD1_TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT = "cond_stage_model.model.token_embedding.weight"
XL_CLIP_L = "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
XL_BIGG = "conditioner.embedders.1.model.token_embedding.weight"
REFINER_BIGG = "conditioner.embedders.0.model.token_embedding.weight"


def sd1(in_channels: int = 4) -> dict[str, list[int]]:
    return {
        UNET + "input_blocks.0.0.weight": [320, in_channels, 3, 3],
        UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        VAE_KEY: [512, 4, 3, 3],
        SD1_TEXT: [49408, 768],
    }


def sd2(in_channels: int = 4) -> dict[str, list[int]]:
    return {
        UNET + "input_blocks.0.0.weight": [320, in_channels, 3, 3],
        UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024],
        VAE_KEY: [512, 4, 3, 3],
        SD2_TEXT: [49408, 1024],
    }


def sdxl(in_channels: int = 4) -> dict[str, list[int]]:
    return {
        UNET + "input_blocks.0.0.weight": [320, in_channels, 3, 3],
        UNET + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
        UNET + "label_emb.0.0.weight": [1280, 2816],
        VAE_KEY: [512, 4, 3, 3],
        XL_CLIP_L: [49408, 768],
        XL_BIGG: [49408, 1280],
    }


def refiner() -> dict[str, list[int]]:
    return {
        UNET + "input_blocks.0.0.weight": [384, 4, 3, 3],
        UNET + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [768, 1280],
        UNET + "label_emb.0.0.weight": [1536, 2560],
        VAE_KEY: [512, 4, 3, 3],
        REFINER_BIGG: [49408, 1280],
    }


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        (sd1(), Architecture(ModelFamily.SD1)),
        (sd1(9), Architecture(ModelFamily.SD1, inpaint=True)),
        (sd2(), Architecture(ModelFamily.SD2)),
        (sd2(9), Architecture(ModelFamily.SD2, inpaint=True)),
        (sdxl(), Architecture(ModelFamily.SDXL)),
        (sdxl(9), Architecture(ModelFamily.SDXL, inpaint=True)),
        (refiner(), Architecture(ModelFamily.SDXL_REFINER)),
        ({**sdxl(), "v_pred": [0]}, Architecture(ModelFamily.SDXL, prediction=PredictionType.V_PREDICTION)),
    ],
    ids=["sd1", "sd1-inpaint", "sd2", "sd2-inpaint", "sdxl", "sdxl-inpaint", "refiner", "sdxl-vpred-marker"],
)
def test_identifies_each_family(shapes: dict[str, list[int]], expected: Architecture) -> None:
    assert identify(shapes) == expected


@pytest.mark.parametrize(
    ("shapes", "reason"),
    [
        ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": [4, 320]}, "LoRA"),
        ({"lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha": []}, "LoRA"),
        ({"unet.down_blocks.0.attentions.0.proj_in.lora_A.weight": [4, 320]}, "LoRA"),
        ({"emb_params": [2, 768]}, "textual-inversion"),
        ({"string_to_param.*": [2, 768], "string_to_token.*": [1]}, "textual-inversion"),
        ({"clip_l": [2, 768], "clip_g": [2, 1280]}, "textual-inversion"),
        ({"encoder.conv_in.weight": [128, 3, 3, 3], "decoder.conv_out.weight": [3, 128, 3, 3]}, "VAE"),
        ({"first_stage_model.encoder.conv_in.weight": [128, 3, 3, 3]}, "VAE"),
        ({UNET + "joint_blocks.0.x_block.attn.qkv.weight": [4608, 1536]}, "Stable Diffusion 3"),
        ({"double_blocks.0.img_attn.qkv.weight": [9216, 3072]}, "Flux"),
        ({"control_model.input_hint_block.0.weight": [16, 3, 3, 3]}, "ControlNet"),
        ({"conv_in.weight": [320, 4, 3, 3], "down_blocks.0.resnets.0.conv1.weight": [320, 320, 3, 3]}, "diffusers-format"),
        ({"some.other.weight": [3]}, "no UNet weights"),
        ({}, "no tensors"),
    ],
)
def test_names_what_a_non_checkpoint_is(shapes: dict[str, list[int]], reason: str) -> None:
    with pytest.raises(UnsupportedModelError, match=reason):
        identify(shapes)


def test_rejects_unet_only_and_odd_variants() -> None:
    unet_only = {k: v for k, v in sd1().items() if k.startswith(UNET)}
    with pytest.raises(UnsupportedModelError, match="no text encoder"):
        identify(unet_only)
    with pytest.raises(UnsupportedModelError, match="InstructPix2Pix"):
        identify(sd1(8))
    with pytest.raises(UnsupportedModelError, match="inconsistent"):
        identify({**sd1(), UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024]})


# --- files -------------------------------------------------------------------------------------


def _small(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """Tiny stand-in tensors: identification only needs the UNet's first conv and cross-attention shapes."""
    keep = ("input_blocks.0.0.weight", "attn2.to_k.weight")
    return {k: torch.zeros(v if k.endswith(keep) else [1], dtype=torch.float16) for k, v in shapes.items()}


def test_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(_small(sdxl(9)), str(path), metadata={"format": "pt"})
    header = read_safetensors_header(path)
    assert header["__metadata__"] == {"format": "pt"}
    assert header[UNET + "input_blocks.0.0.weight"]["shape"] == [320, 9, 3, 3]
    assert identify_file(path) == Architecture(ModelFamily.SDXL, inpaint=True)


def test_yaml_sidecar_selects_v_prediction(tmp_path: Path) -> None:
    path = tmp_path / "v2-1_768.safetensors"
    save_file(_small(sd2()), str(path))
    sidecar = tmp_path / "v2-1_768.yaml"
    sidecar.write_text("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n    parameterization: \"v\"\n")
    assert find_yaml_sidecar(path) == sidecar
    assert identify_file(path, sidecar) == Architecture(ModelFamily.SD2, prediction=PredictionType.V_PREDICTION)
    sidecar.write_text("model:\n  params:\n    linear_start: 0.00085\n")
    assert identify_file(path, sidecar).prediction is PredictionType.EPSILON
    sidecar.write_text("model: [unclosed\n")
    with pytest.raises(UnsupportedModelError, match="not valid YAML"):
        identify_file(path, sidecar)


def test_truncated_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    save_file(_small(sd1()), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        identify_file(path)
    path.write_bytes(data[:200])  # cut inside the header
    with pytest.raises(CorruptCheckpointError, match="header claims"):
        read_safetensors_header(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"abc", "too short"),
        (struct.pack("<Q", 10**12) + b"{}", "header claims"),
        (struct.pack("<Q", 10) + b"not json!!", "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "header claims"),
    ],
    ids=["short", "huge-length", "bad-json", "json-list", "png"],
)
def test_garbage_safetensors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match=message):
        identify_file(path)


def test_offsets_past_end_of_file(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8000]}}).encode()
    path = tmp_path / "lying.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        read_safetensors_header(path)


def test_ckpt_with_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "sd15.ckpt"
    torch.save({"state_dict": _small(sd1(9)), "global_step": 840000}, path)
    assert identify_file(path) == Architecture(ModelFamily.SD1, inpaint=True)


def test_legacy_non_zip_ckpt(tmp_path: Path) -> None:
    path = tmp_path / "old.ckpt"
    torch.save(_small(sd2()), path, _use_new_zipfile_serialization=False)
    assert identify_file(path) == Architecture(ModelFamily.SD2)


class TrainingCallback:
    """Stands in for objects like pytorch_lightning's ModelCheckpoint pickled into old .ckpt files."""

    def __init__(self) -> None:
        self.best = 0.5


class Payload:
    """Unpickling this would create a file: proof that refusing happens before any code runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_ckpt_with_custom_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": _small(sd1()), "callbacks": TrainingCallback()}, path)
    with pytest.raises(UnsupportedModelError, match="needs pickle code execution; refused for safety.*TrainingCallback"):
        identify_file(path)


def test_ckpt_payload_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": _small(sd1()), "x": Payload(marker)}, path)
    with pytest.raises(UnsupportedModelError, match="refused"):
        identify_file(path)
    assert not marker.exists()


def test_broken_ckpt(tmp_path: Path) -> None:
    path = tmp_path / "cut.ckpt"
    torch.save({"state_dict": _small(sd1())}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptCheckpointError):
        identify_file(path)
    path.write_bytes(b"hello, not a checkpoint")
    with pytest.raises(CorruptCheckpointError, match="not a PyTorch checkpoint"):
        identify_file(path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(UnsupportedModelError, match="unknown file type"):
        identify_file(path)
