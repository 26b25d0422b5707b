"""The diffusers config files for each bundled architecture, as Python data.

Values follow the public diffusers repositories of the reference models (SD 1.5, SD 1.5
inpainting, SD 2.1 base, SD 2 inpainting, SDXL base 1.0, SDXL inpainting 0.1, SDXL refiner 1.0).
Fields that only record provenance (``_name_or_path``, ``torch_dtype``, library versions) are left
out: they do not change the network and ``torch_dtype`` would silently pick fp16.
``build.py`` writes these dicts to JSON; the JSON files are what the app reads.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

_SD_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
_SD_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]


def _sd_unet(*, in_channels: int, cross_attention_dim: int, heads: int | list[int], linear: bool) -> Json:
    return {
        "_class_name": "UNet2DConditionModel",
        "act_fn": "silu",
        "attention_head_dim": heads,
        "block_out_channels": [320, 640, 1280, 1280],
        "center_input_sample": False,
        "cross_attention_dim": cross_attention_dim,
        "down_block_types": list(_SD_DOWN),
        "downsample_padding": 1,
        "dual_cross_attention": False,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": in_channels,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 32,
        "num_class_embeds": None,
        "only_cross_attention": False,
        "out_channels": 4,
        "sample_size": 64,
        "up_block_types": list(_SD_UP),
        "use_linear_projection": linear,
    }


def _xl_unet(*, in_channels: int, refiner: bool) -> Json:
    if refiner:
        # 384 base channels, attention only at the two middle levels, 4 transformer layers each.
        shape: Json = {
            "attention_head_dim": [6, 12, 24, 24],
            "block_out_channels": [384, 768, 1536, 1536],
            "cross_attention_dim": 1280,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            "projection_class_embeddings_input_dim": 2560,
            "transformer_layers_per_block": 4,
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        }
    else:
        shape = {
            "attention_head_dim": [5, 10, 20],
            "block_out_channels": [320, 640, 1280],
            "cross_attention_dim": 2048,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "projection_class_embeddings_input_dim": 2816,
            "transformer_layers_per_block": [1, 2, 10],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        }
    return {
        "_class_name": "UNet2DConditionModel",
        "act_fn": "silu",
        "addition_embed_type": "text_time",
        "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": 256,
        "center_input_sample": False,
        "class_embed_type": None,
        "class_embeddings_concat": False,
        "conv_in_kernel": 3,
        "conv_out_kernel": 3,
        "cross_attention_norm": None,
        "downsample_padding": 1,
        "dual_cross_attention": False,
        "encoder_hid_dim": None,
        "encoder_hid_dim_type": None,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": in_channels,
        "layers_per_block": 2,
        "mid_block_only_cross_attention": None,
        "mid_block_scale_factor": 1,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "norm_eps": 1e-05,
        "norm_num_groups": 32,
        "num_attention_heads": None,
        "num_class_embeds": None,
        "only_cross_attention": False,
        "out_channels": 4,
        "resnet_out_scale_factor": 1.0,
        "resnet_skip_time_act": False,
        "resnet_time_scale_shift": "default",
        "sample_size": 128,
        "time_cond_proj_dim": None,
        "time_embedding_act_fn": None,
        "time_embedding_dim": None,
        "time_embedding_type": "positional",
        "timestep_post_act": None,
        "upcast_attention": None,
        "use_linear_projection": True,
        **shape,
    }


def _vae(*, sample_size: int, xl: bool) -> Json:
    config: Json = {
        "_class_name": "AutoencoderKL",
        "act_fn": "silu",
        "block_out_channels": [128, 256, 512, 512],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "in_channels": 3,
        "latent_channels": 4,
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "out_channels": 3,
        "sample_size": sample_size,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
    }
    if xl:
        # The SDXL VAE overflows in fp16 and uses a different latent scale.
        config.update({"force_upcast": True, "scaling_factor": 0.13025})
    else:
        config["scaling_factor"] = 0.18215
    return config


def _clip_text(*, width: int, layers: int, heads: int, act: str, projection: int, with_projection: bool) -> Json:
    # bos/eos ids 0/2 are what the reference repos carry; transformers treats eos_token_id == 2 as
    # "pool at the argmax id" (the end-of-text token, 49407), which is the behaviour SD expects.
    return {
        "architectures": ["CLIPTextModelWithProjection" if with_projection else "CLIPTextModel"],
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "dropout": 0.0,
        "eos_token_id": 2,
        "hidden_act": act,
        "hidden_size": width,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 4 * width,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "model_type": "clip_text_model",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 1,
        "projection_dim": projection,
        "vocab_size": 49408,
    }


# CLIP ViT-L/14 (SD1, first SDXL encoder).
_CLIP_L = _clip_text(width=768, layers=12, heads=12, act="quick_gelu", projection=768, with_projection=False)
# OpenCLIP ViT-H/14 as SD2 uses it: the last of its 24 layers is dropped by the diffusers conversion.
_OPENCLIP_H = _clip_text(width=1024, layers=23, heads=16, act="gelu", projection=512, with_projection=False)
# OpenCLIP ViT-bigG/14 (second SDXL encoder, refiner's only encoder), with its text projection.
_OPENCLIP_G = _clip_text(width=1280, layers=32, heads=20, act="gelu", projection=1280, with_projection=True)

_SD_NOISE = {"beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000}


def _pndm(prediction_type: str | None) -> Json:
    config: Json = {
        "_class_name": "PNDMScheduler",
        **_SD_NOISE,
        "clip_sample": False,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
    }
    if prediction_type:
        config["prediction_type"] = prediction_type
    return config


_DDIM_SD1_INPAINT: Json = {
    "_class_name": "DDIMScheduler",
    **_SD_NOISE,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "trained_betas": None,
}

_EULER_XL: Json = {
    "_class_name": "EulerDiscreteScheduler",
    **_SD_NOISE,
    "clip_sample": False,
    "interpolation_type": "linear",
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

_NO_SAFETY: Json = {
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
}


def _sd_index(pipeline: str, scheduler: str) -> Json:
    return {
        "_class_name": pipeline,
        **_NO_SAFETY,
        "scheduler": ["diffusers", scheduler],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }


def _xl_index(pipeline: str, *, refiner: bool, aesthetics: bool, zeros_for_empty: bool) -> Json:
    first = [None, None] if refiner else None
    return {
        "_class_name": pipeline,
        "feature_extractor": [None, None],
        "force_zeros_for_empty_prompt": zeros_for_empty,
        "image_encoder": [None, None],
        "requires_aesthetics_score": aesthetics,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": first or ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": first or ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }


def _sd_folder(index: Json, unet: Json, text: Json, scheduler: Json, vae_size: int) -> dict[str, Json]:
    return {
        "model_index.json": index,
        "scheduler/scheduler_config.json": scheduler,
        "text_encoder/config.json": text,
        "unet/config.json": unet,
        "vae/config.json": _vae(sample_size=vae_size, xl=False),
    }


def _xl_folder(index: Json, unet: Json, *, refiner: bool) -> dict[str, Json]:
    files = {
        "model_index.json": index,
        "scheduler/scheduler_config.json": _EULER_XL,
        "text_encoder_2/config.json": _OPENCLIP_G,
        "unet/config.json": unet,
        "vae/config.json": _vae(sample_size=1024, xl=True),
    }
    if not refiner:
        files["text_encoder/config.json"] = _CLIP_L
    return files


def config_folders() -> dict[str, dict[str, Json]]:
    """Folder name (``Architecture.config_name``) -> relative file path -> JSON content."""
    return {
        "sd1": _sd_folder(
            _sd_index("StableDiffusionPipeline", "PNDMScheduler"),
            _sd_unet(in_channels=4, cross_attention_dim=768, heads=8, linear=False),
            _CLIP_L,
            _pndm(None),
            512,
        ),
        "sd1-inpaint": _sd_folder(
            _sd_index("StableDiffusionInpaintPipeline", "DDIMScheduler"),
            _sd_unet(in_channels=9, cross_attention_dim=768, heads=8, linear=False),
            _CLIP_L,
            _DDIM_SD1_INPAINT,
            512,
        ),
        "sd2": _sd_folder(
            _sd_index("StableDiffusionPipeline", "PNDMScheduler"),
            _sd_unet(in_channels=4, cross_attention_dim=1024, heads=[5, 10, 20, 20], linear=True),
            _OPENCLIP_H,
            _pndm("epsilon"),
            768,
        ),
        "sd2-inpaint": _sd_folder(
            _sd_index("StableDiffusionInpaintPipeline", "PNDMScheduler"),
            _sd_unet(in_channels=9, cross_attention_dim=1024, heads=[5, 10, 20, 20], linear=True),
            _OPENCLIP_H,
            _pndm("epsilon"),
            512,
        ),
        "sdxl": _xl_folder(
            _xl_index("StableDiffusionXLPipeline", refiner=False, aesthetics=False, zeros_for_empty=True),
            _xl_unet(in_channels=4, refiner=False),
            refiner=False,
        ),
        "sdxl-inpaint": _xl_folder(
            _xl_index("StableDiffusionXLInpaintPipeline", refiner=False, aesthetics=False, zeros_for_empty=True),
            _xl_unet(in_channels=9, refiner=False),
            refiner=False,
        ),
        "sdxl-refiner": _xl_folder(
            _xl_index("StableDiffusionXLImg2ImgPipeline", refiner=True, aesthetics=True, zeros_for_empty=False),
            _xl_unet(in_channels=4, refiner=True),
            refiner=True,
        ),
    }
