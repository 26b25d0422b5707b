"""The bundled config folders describe the real public models and load with no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import diffusers
import pytest
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from pipelines.configs import (
    CONFIGS_ROOT,
    EOS_PAD,
    OPENCLIP_PAD,
    config_dir,
    load_tokenizer,
    load_tokenizers,
    tokenizer_dir,
)
from pipelines.configs.build import write_configs
from pipelines.configs.clip_bpe import MERGE_COUNT, VOCAB_SIZE, byte_to_unicode
from pipelines.models.architecture import Architecture, ModelFamily

torch.set_num_threads(1)

ALL_ARCHS = [
    Architecture(ModelFamily.SD1),
    Architecture(ModelFamily.SD1, inpaint=True),
    Architecture(ModelFamily.SD2),
    Architecture(ModelFamily.SD2, inpaint=True),
    Architecture(ModelFamily.SDXL),
    Architecture(ModelFamily.SDXL, inpaint=True),
    Architecture(ModelFamily.SDXL_REFINER),
]

PIPELINES = {
    "sd1": "StableDiffusionPipeline",
    "sd1-inpaint": "StableDiffusionInpaintPipeline",
    "sd2": "StableDiffusionPipeline",
    "sd2-inpaint": "StableDiffusionInpaintPipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "sdxl-inpaint": "StableDiffusionXLInpaintPipeline",
    "sdxl-refiner": "StableDiffusionXLImg2ImgPipeline",
}

# Parameter counts of the public reference models' components (diffusers / transformers layout).
SD_VAE = 83_653_863
CLIP_L = 123_060_480
OPENCLIP_H_23 = 340_387_840
OPENCLIP_G_PROJ = 694_659_840
EXPECTED_PARAMS = {
    "sd1": {"unet": 859_520_964, "vae": SD_VAE, "text_encoder": CLIP_L},
    # The inpaint UNet's first conv takes 9 channels: 5 * 320 * 3 * 3 = 14,400 more weights.
    "sd1-inpaint": {"unet": 859_535_364, "vae": SD_VAE, "text_encoder": CLIP_L},
    "sd2": {"unet": 865_910_724, "vae": SD_VAE, "text_encoder": OPENCLIP_H_23},
    "sd2-inpaint": {"unet": 865_925_124, "vae": SD_VAE, "text_encoder": OPENCLIP_H_23},
    "sdxl": {"unet": 2_567_463_684, "vae": SD_VAE, "text_encoder": CLIP_L, "text_encoder_2": OPENCLIP_G_PROJ},
    "sdxl-inpaint": {"unet": 2_567_478_084, "vae": SD_VAE, "text_encoder": CLIP_L, "text_encoder_2": OPENCLIP_G_PROJ},
    "sdxl-refiner": {"unet": 2_259_526_660, "vae": SD_VAE, "text_encoder_2": OPENCLIP_G_PROJ},
}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta_params(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with torch.device("meta"):
        counts["unet"] = _count(UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder, subfolder="unet")))
        counts["vae"] = _count(AutoencoderKL.from_config(AutoencoderKL.load_config(folder, subfolder="vae")))
        for name, cls in (("text_encoder", CLIPTextModel), ("text_encoder_2", CLIPTextModelWithProjection)):
            if (folder / name).is_dir():
                counts[name] = _count(cls(CLIPTextConfig.from_pretrained(folder / name)))
    return counts


@pytest.mark.parametrize("arch", ALL_ARCHS, ids=lambda a: a.config_name)
def test_folder_loads_as_the_right_pipeline(arch: Architecture) -> None:
    folder = config_dir(arch)
    index = DiffusionPipeline.load_config(folder)
    assert index["_class_name"] == PIPELINES[arch.config_name]
    pipeline_cls = getattr(diffusers, index["_class_name"])
    expected, _ = pipeline_cls._get_signature_keys(pipeline_cls)
    listed = {name for name, value in index.items() if isinstance(value, list) and value[0] is not None}
    # Every required component is described; the rest may be left out (safety checker etc.).
    assert set(expected) - listed <= set(pipeline_cls._optional_components)
    assert index.get("safety_checker", [None])[0] is None
    assert index.get("feature_extractor", [None])[0] is None
    for component in ("unet", "vae", "scheduler", "text_encoder", "text_encoder_2"):
        entry = index.get(component)
        if entry and entry[0] is not None:
            cls = getattr(diffusers, entry[1], None)
            if cls is not None:  # diffusers classes; transformers configs are checked below
                config = cls.load_config(folder, subfolder=component)
                assert config["_class_name"] == entry[1]


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_component_sizes_match_reference_models(name: str) -> None:
    assert _meta_params(CONFIGS_ROOT / name) == EXPECTED_PARAMS[name]


def test_unet_shapes_that_identify_relies_on() -> None:
    def unet(name: str) -> dict:
        return UNet2DConditionModel.load_config(CONFIGS_ROOT / name, subfolder="unet")

    assert unet("sdxl")["transformer_layers_per_block"] == [1, 2, 10]
    assert unet("sdxl")["projection_class_embeddings_input_dim"] == 2816
    assert unet("sdxl-refiner")["projection_class_embeddings_input_dim"] == 2560
    assert unet("sdxl-refiner")["cross_attention_dim"] == 1280
    assert {unet(n)["in_channels"] for n in ("sd1-inpaint", "sd2-inpaint", "sdxl-inpaint")} == {9}
    assert unet("sd2")["use_linear_projection"] is True


def test_text_encoder_flavours() -> None:
    sd1 = CLIPTextConfig.from_pretrained(CONFIGS_ROOT / "sd1" / "text_encoder")
    sd2 = CLIPTextConfig.from_pretrained(CONFIGS_ROOT / "sd2" / "text_encoder")
    assert (sd1.hidden_act, sd1.num_hidden_layers) == ("quick_gelu", 12)
    assert (sd2.hidden_act, sd2.num_hidden_layers, sd2.hidden_size) == ("gelu", 23, 1024)


def test_sdxl_vae_scale_and_upcast() -> None:
    vae = AutoencoderKL.load_config(CONFIGS_ROOT / "sdxl", subfolder="vae")
    assert vae["scaling_factor"] == pytest.approx(0.13025)
    assert vae["force_upcast"] is True


def test_committed_configs_match_the_build_script(tmp_path: Path) -> None:
    names = write_configs(tmp_path)
    for name in names:
        for generated in sorted((tmp_path / name).rglob("*.json")):
            committed = CONFIGS_ROOT / generated.relative_to(tmp_path)
            assert committed.read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), committed


def test_tokenizer_matches_openai_clip() -> None:
    tokenizer = load_tokenizer()
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tokenizer) == VOCAB_SIZE
    assert tokenizer.model_max_length == 77


def test_tokenizer_files() -> None:
    vocab = json.loads((tokenizer_dir() / "vocab.json").read_text(encoding="utf-8"))
    merges = (tokenizer_dir() / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == VOCAB_SIZE
    assert merges[0] == "#version: 0.2" and len(merges) == MERGE_COUNT + 1
    assert vocab["!"] == 0 and vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    table = byte_to_unicode()
    assert len(set(table.values())) == 256


@pytest.mark.parametrize(
    ("arch", "pads"),
    [
        (Architecture(ModelFamily.SD1), {"tokenizer": EOS_PAD}),
        (Architecture(ModelFamily.SD2, inpaint=True), {"tokenizer": OPENCLIP_PAD}),
        (Architecture(ModelFamily.SDXL), {"tokenizer": EOS_PAD, "tokenizer_2": OPENCLIP_PAD}),
        (Architecture(ModelFamily.SDXL_REFINER), {"tokenizer_2": OPENCLIP_PAD}),
    ],
    ids=lambda v: v.config_name if isinstance(v, Architecture) else "",
)
def test_load_tokenizers_pads_like_the_encoder(arch: Architecture, pads: dict[str, str]) -> None:
    tokenizers = load_tokenizers(arch)
    assert {name: t.pad_token for name, t in tokenizers.items()} == pads
    padded = tokenizers[next(iter(pads))]("a cat", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77
    assert padded[-1] == (0 if next(iter(pads.values())) == OPENCLIP_PAD else 49407)
    assert load_tokenizers(config_dir(arch)).keys() == tokenizers.keys()


def test_sidecar_folder_decides_tokenizers(tmp_path: Path) -> None:
    """A checkpoint's own config folder (no tokenizer files) still gets the right pads."""
    sidecar = tmp_path / "model.config"
    (sidecar / "text_encoder").mkdir(parents=True)
    index = {"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "safety_checker": [None, None]}
    (sidecar / "model_index.json").write_text(json.dumps(index))
    (sidecar / "text_encoder" / "config.json").write_text(json.dumps({"hidden_act": "gelu"}))
    tokenizers = load_tokenizers(Architecture(ModelFamily.SD1), sidecar)
    assert tokenizers["tokenizer"].pad_token == OPENCLIP_PAD


def test_folder_with_its_own_tokenizer_keeps_it(tmp_path: Path) -> None:
    folder = tmp_path / "diffusers-folder"
    shutil.copytree(CONFIGS_ROOT / "sd1", folder)
    shutil.copytree(tokenizer_dir(), folder / "tokenizer")
    config = json.loads((folder / "tokenizer" / "tokenizer_config.json").read_text())
    (folder / "tokenizer" / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 64}))
    assert load_tokenizers(folder)["tokenizer"].model_max_length == 64
