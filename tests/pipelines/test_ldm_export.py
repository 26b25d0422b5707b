"""The LDM exporter is the exact inverse of diffusers' single-file loader, for every family.

Each tiny checkpoint is written by ``tests/factory.py`` and read back by diffusers' own
``from_single_file`` (the code path real community checkpoints take); every tensor must come back
bit-identical, and the file must use the key names real checkpoints use.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import (
    AutoencoderKL,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.loaders.single_file_utils import (
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from tests import factory
from pipelines.models.architecture import ModelFamily
from pipelines.models.ldm_export import (
    export_ldm_state_dict,
    export_open_clip,
    export_unet,
    export_vae,
)

torch.set_num_threads(1)

PIPELINES = {
    "StableDiffusionPipeline": StableDiffusionPipeline,
    "StableDiffusionInpaintPipeline": StableDiffusionInpaintPipeline,
    "StableDiffusionXLPipeline": StableDiffusionXLPipeline,
    "StableDiffusionXLImg2ImgPipeline": StableDiffusionXLImg2ImgPipeline,
}

# Keys every real checkpoint of the family contains (spot checks of the naming scheme).
REAL_KEYS = {
    "sd1": [
        "model.diffusion_model.input_blocks.0.0.weight",
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight",
        "model.diffusion_model.input_blocks.1.0.in_layers.2.weight",
        "model.diffusion_model.input_blocks.3.0.op.weight",
        "model.diffusion_model.middle_block.1.proj_in.weight",
        "model.diffusion_model.middle_block.2.emb_layers.1.weight",
        "model.diffusion_model.output_blocks.2.1.conv.weight",
        "model.diffusion_model.output_blocks.3.0.skip_connection.weight",
        "model.diffusion_model.out.2.weight",
        "model.diffusion_model.time_embed.0.weight",
        "first_stage_model.decoder.up.3.block.0.conv1.weight",
        "first_stage_model.decoder.up.3.upsample.conv.weight",
        "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight",
        "first_stage_model.encoder.mid.attn_1.q.weight",
        "first_stage_model.post_quant_conv.weight",
        "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight",
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
        "cond_stage_model.transformer.text_model.final_layer_norm.weight",
    ],
    "sd2": [
        "model.diffusion_model.input_blocks.1.1.proj_in.weight",
        "cond_stage_model.model.token_embedding.weight",
        "cond_stage_model.model.positional_embedding",
        "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight",
        "cond_stage_model.model.transformer.resblocks.1.mlp.c_fc.weight",
        "cond_stage_model.model.ln_final.weight",
        "cond_stage_model.model.text_projection",
        "cond_stage_model.model.logit_scale",
    ],
    "sdxl": [
        "model.diffusion_model.label_emb.0.0.weight",
        "model.diffusion_model.label_emb.0.2.bias",
        "model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight",
        "model.diffusion_model.output_blocks.2.2.conv.weight",
        "conditioner.embedders.0.transformer.text_model.encoder.layers.0.mlp.fc1.weight",
        "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight",
        "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias",
        "conditioner.embedders.1.model.text_projection",
        "conditioner.embedders.1.model.logit_scale",
        "first_stage_model.decoder.up.3.block.0.conv1.weight",
    ],
    "sdxl-refiner": [
        "model.diffusion_model.label_emb.0.0.weight",
        "conditioner.embedders.0.model.text_projection",
        "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias",
    ],
}
REAL_KEYS["sd1-inpaint"] = REAL_KEYS["sd1"]


def _load_pipeline(path: Path, model: factory.TinyModel):
    """Load ``path`` the way Atelier will: diffusers' single-file loader with the sidecar config."""
    cls = PIPELINES[model.pipeline_class]
    kwargs: dict = {"tokenizer": None}
    if model.family in (ModelFamily.SDXL, ModelFamily.SDXL_REFINER):
        kwargs["tokenizer_2"] = None
    else:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    return cls.from_single_file(
        str(path), config=str(factory.sidecar_dir(path)), local_files_only=True, **kwargs
    )


def _assert_same_weights(expected: torch.nn.Module, actual: torch.nn.Module, name: str) -> None:
    want, got = expected.state_dict(), actual.state_dict()
    assert set(got) == set(want), f"{name}: key sets differ: {sorted(set(want) ^ set(got))[:10]}"
    for key, tensor in want.items():
        assert got[key].dtype == tensor.dtype, f"{name}.{key}: dtype {got[key].dtype}"
        assert torch.equal(got[key], tensor), f"{name}.{key} differs after the round trip"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize("kind", factory.KINDS)
def test_round_trip_through_diffusers_single_file_loader(models_dir: Path, kind: str) -> None:
    path = factory.build_checkpoint(models_dir, kind, name=f"tiny-{kind}", seed=3)
    model = factory.build_models(kind, seed=3)
    pipe = _load_pipeline(path, model)

    assert type(pipe).__name__ == model.pipeline_class
    for name, module in model.components().items():
        _assert_same_weights(module, getattr(pipe, name), name)
    if model.family is ModelFamily.SDXL_REFINER:
        assert pipe.text_encoder is None


@pytest.mark.parametrize("kind", factory.KINDS)
def test_exported_keys_use_real_checkpoint_names(models_dir: Path, kind: str) -> None:
    path = factory.build_checkpoint(models_dir, kind, name=f"keys-{kind}")
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
    missing = [k for k in REAL_KEYS[kind] if k not in keys]
    assert not missing, f"missing real-checkpoint keys: {missing}"
    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "conditioner.")
    assert all(k.startswith(prefixes) for k in keys)


def test_vae_attention_is_stored_as_1x1_convolution(models_dir: Path) -> None:
    path = factory.build_checkpoint(models_dir, "sd1", name="vae-shapes")
    state = load_file(str(path))
    for part in ("q", "k", "v", "proj_out"):
        assert state[f"first_stage_model.decoder.mid.attn_1.{part}.weight"].shape == (32, 32, 1, 1)


def test_open_clip_layout_matches_openclip(models_dir: Path) -> None:
    model = factory.build_models("sdxl", seed=0)
    hf = model.text_encoder_2.state_dict()
    state = export_open_clip(hf)
    width = model.text_encoder_2.config.hidden_size
    qkv = state["transformer.resblocks.0.attn.in_proj_weight"]
    assert qkv.shape == (3 * width, width)
    assert torch.equal(
        qkv[width : 2 * width], hf["text_model.encoder.layers.0.self_attn.k_proj.weight"]
    )
    # OpenCLIP applies ``x @ text_projection``; HF's Linear stores the transpose.
    assert torch.equal(state["text_projection"], hf["text_projection.weight"].T)
    assert state["logit_scale"].ndim == 0


def test_sd2_file_has_the_openclip_layer_that_diffusers_drops(models_dir: Path) -> None:
    """Real SD2 files hold 24 OpenCLIP blocks while diffusers' encoder keeps 23 (SD2 conditions on
    the penultimate block). The extra block is written as an identity so the file has the real
    shape."""
    model = factory.build_models("sd2")
    layers = model.text_encoder.config.num_hidden_layers
    state = export_open_clip(model.text_encoder.state_dict(), pad_final_layer=True)
    last = f"transformer.resblocks.{layers}."
    assert torch.count_nonzero(state[last + "attn.out_proj.weight"]) == 0
    assert torch.count_nonzero(state[last + "mlp.c_proj.weight"]) == 0
    assert f"transformer.resblocks.{layers + 1}.ln_1.weight" not in state
    width = model.text_encoder.config.hidden_size
    assert torch.equal(state["text_projection"], torch.eye(width))


def test_standalone_vae_loads_with_diffusers(models_dir: Path) -> None:
    checkpoint = factory.build_checkpoint(models_dir, "sd1", name="vae-host")
    path = factory.build_vae(models_dir, name="tiny-vae")
    assert path == models_dir / "VAE" / "tiny-vae.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
    assert "decoder.up.3.block.0.conv1.weight" in keys and "quant_conv.weight" in keys
    vae = AutoencoderKL.from_single_file(
        str(path),
        config=str(factory.sidecar_dir(checkpoint)),
        subfolder="vae",
        local_files_only=True,
    )
    _assert_same_weights(factory.build_vae_model(seed=7), vae, "vae")


def test_sidecar_is_a_diffusers_config_folder(models_dir: Path) -> None:
    path = factory.build_checkpoint(models_dir, "sdxl", name="sidecar")
    folder = factory.sidecar_dir(path)
    assert folder == path.parent / "sidecar.config"
    for rel in (
        "model_index.json",
        "unet/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "text_encoder_2/config.json",
        "scheduler/scheduler_config.json",
    ):
        assert (folder / rel).is_file(), rel
    assert not (folder / "tokenizer").exists()


def test_export_rejects_wrong_encoders() -> None:
    model = factory.build_models("sd1")
    args = (model.unet.state_dict(), model.vae.state_dict())
    configs = {"unet_config": dict(model.unet.config), "vae_config": dict(model.vae.config)}
    with pytest.raises(ValueError):
        export_ldm_state_dict(*args, None, None, family=ModelFamily.SD1, **configs)
    te = model.text_encoder.state_dict()
    with pytest.raises(ValueError):
        export_ldm_state_dict(*args, te, te, family=ModelFamily.SD1, **configs)
    with pytest.raises(ValueError):
        export_ldm_state_dict(
            {**args[0], "bogus.weight": torch.zeros(1)},
            args[1],
            te,
            None,
            family=ModelFamily.SD1,
            **configs,
        )


def test_tiny_checkpoint_generates_quickly(models_dir: Path) -> None:
    path = factory.build_checkpoint(models_dir, "sd1", name="speed")
    pipe = _load_pipeline(path, factory.build_models("sd1"))
    ids = torch.randint(0, 49407, (1, 77), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        embeds = pipe.text_encoder(ids)[0]
    image = pipe(
        prompt_embeds=embeds,
        negative_prompt_embeds=embeds,
        height=64,
        width=64,
        num_inference_steps=4,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.shape == (64, 64, 3)
    assert torch.isfinite(torch.from_numpy(image)).all()


def test_corrupt_files_are_written(models_dir: Path) -> None:
    paths = factory.write_corrupt_files(models_dir)
    assert [p.name for p in paths] == [
        "broken-truncated.safetensors",
        "not-a-model.safetensors",
        "garbage.ckpt",
    ]
    with pytest.raises(Exception):  # noqa: B017 - any load error will do; the type is not ours
        load_file(str(paths[0]))
    assert "classifier.bias" in load_file(str(paths[1]))


# Full-size architectures, built on the meta device (no memory, no weights): the exporter must give
# the key counts real files have (SD1.5 UNet 686, SDXL UNet 1680, VAE 248) and diffusers must map
# every key back to the very same tensor.
FULL_UNETS = {
    "sd1": ({"cross_attention_dim": 768, "attention_head_dim": 8}, 686),
    "sdxl": (
        {
            "cross_attention_dim": 2048,
            "block_out_channels": [320, 640, 1280],
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "transformer_layers_per_block": [1, 2, 10],
            "attention_head_dim": [5, 10, 20],
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 2816,
        },
        1680,
    ),
}


@pytest.mark.parametrize("family", sorted(FULL_UNETS))
def test_full_size_unet_matches_real_layout(family: str) -> None:
    config, real_count = FULL_UNETS[family]
    with init_empty_weights():
        unet = UNet2DConditionModel(**config)
    state = unet.state_dict()
    ldm = export_unet(state, dict(unet.config))
    assert len(ldm) == real_count
    back = convert_ldm_unet_checkpoint(
        {"model.diffusion_model." + k: v for k, v in ldm.items()}, dict(unet.config)
    )
    assert set(back) == set(state)
    assert all(back[k] is state[k] for k in state)


def test_full_size_vae_matches_real_layout() -> None:
    with init_empty_weights():
        vae = AutoencoderKL(
            block_out_channels=[128, 256, 512, 512],
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            layers_per_block=2,
        )
    ldm = export_vae(vae.state_dict(), dict(vae.config))
    assert len(ldm) == 248
    back = convert_ldm_vae_checkpoint(
        {"first_stage_model." + k: v for k, v in ldm.items()}, dict(vae.config)
    )
    assert set(back) == set(vae.state_dict())


def test_full_size_sd2_padding_lands_on_the_block_diffusers_ignores() -> None:
    """SD2's HF encoder has 23 layers; the padded 24th block is ``resblocks.23``, which diffusers
    skips."""
    config = CLIPTextConfig(
        hidden_size=1024,
        num_hidden_layers=23,
        num_attention_heads=16,
        intermediate_size=4096,
        hidden_act="gelu",
        projection_dim=512,
    )
    with torch.device("meta"):
        encoder = CLIPTextModel(config)
    ldm = export_open_clip(encoder.state_dict(), pad_final_layer=True)
    assert "transformer.resblocks.23.mlp.c_proj.bias" in ldm
    assert "transformer.resblocks.24.ln_1.weight" not in ldm
    assert ldm["text_projection"].shape == (1024, 1024)
    back = convert_open_clip_checkpoint(
        encoder, {"cond_stage_model.model." + k: v for k, v in ldm.items()}
    )
    back = {k.removeprefix("text_model."): v for k, v in back.items()}
    assert set(back) == set(encoder.state_dict())


def test_full_size_sdxl_open_clip_shapes() -> None:
    config = CLIPTextConfig(
        hidden_size=1280,
        num_hidden_layers=32,
        num_attention_heads=20,
        intermediate_size=5120,
        hidden_act="gelu",
        projection_dim=1280,
    )
    with torch.device("meta"):
        encoder = CLIPTextModelWithProjection(config)
    ldm = export_open_clip(encoder.state_dict())
    assert len(ldm) == 32 * 12 + 6
    assert ldm["transformer.resblocks.31.attn.in_proj_weight"].shape == (3840, 1280)
    assert ldm["text_projection"].shape == (1280, 1280)
    back = convert_open_clip_checkpoint(
        encoder,
        {"conditioner.embedders.1.model." + k: v for k, v in ldm.items()},
        prefix="conditioner.embedders.1.model.",
    )
    assert set(back) == set(encoder.state_dict())
