"""Settings tab and quick-settings bar actions as plain functions (tests call them directly)."""

from __future__ import annotations

from typing import Any

from pipelines.context import AtelierContext
from pipelines.diffusion.taesd import TAESD_FOLDER, decoder_file
from pipelines.models.manager import VAE_AUTOMATIC, VAE_NONE
from pipelines.settings import Settings
from webui.errors import UserError, user_message

# The Settings tab, section by section (A1111 option names). Checkpoint, VAE and clip skip
# live in the quick-settings bar on top instead, as A1111's default quicksettings.
GROUPS: dict[str, list[str]] = {
    "Saving images": ["samples_save", "samples_format", "enable_pnginfo", "provenance_marks", "sdxl_watermark",
                      "sdxl_watermark_video", "c2pa_sign", "c2pa_cert", "c2pa_key"],
    "Paths for saving": ["outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples",
                         "outdir_extras_samples", "outdir_txt2img_grids", "outdir_img2img_grids", "outdir_save"],
    "Live previews": ["live_previews_enable", "show_progress_every_n_steps", "show_progress_type"],
    "Sampler defaults": ["default_sampler", "default_scheduler"],
    "Memory": ["model_cache_gb"],
    "Limits (per request)": ["limit_request_body_mb", "limit_input_images", "limit_input_megapixels",
                             "limit_output_megapixels", "limit_prompt_chars", "limit_batch_size", "limit_n_iter"],
}
LABELS: dict[str, str] = {
    "samples_save": "Always save all generated images",
    "samples_format": "File format for images",
    "enable_pnginfo": "Save generation parameters (infotext) in images",
    "provenance_marks": "Invisible provenance marks in every output (Atelier's watermark; SDXL's where on below)",
    "sdxl_watermark": "Also write the SDXL-compatible watermark in images (Stability's detector reads it; lost on JPEG)",
    "c2pa_sign": "Sign saved images with a C2PA manifest (Content Credentials; local self-issued certificate "
                 "unless one is given below)",
    "c2pa_cert": "C2PA certificate chain (PEM file; empty: local self-issued)",
    "c2pa_key": "C2PA private key (PEM file)",
    "sdxl_watermark_video": "Also write the SDXL-compatible watermark in video frames (lost on h264; ~0.26 s per 720p frame)",
    "outdir_samples": "Output directory for images; if empty, <data-dir>/outputs",
    "outdir_txt2img_samples": "Output directory for txt2img images",
    "outdir_img2img_samples": "Output directory for img2img images",
    "outdir_extras_samples": "Output directory for extras and face-swap images",
    "outdir_txt2img_grids": "Output directory for txt2img grids",
    "outdir_img2img_grids": "Output directory for img2img grids",
    "outdir_save": "Directory for saving images using the Save button",
    "live_previews_enable": "Show live previews of the image being generated",
    "show_progress_every_n_steps": "Live preview every N sampling steps (0: off)",
    "show_progress_type": "Live preview method",
    "default_sampler": "Default sampling method",
    "default_scheduler": "Default schedule type",
    "model_cache_gb": "Model cache size (GB of RAM shared by every loaded model)",
    "limit_request_body_mb": "Largest request body (MB); larger: 413",
    "limit_input_images": "Most images one request may send",
    "limit_input_megapixels": "Most megapixels of all images one request sends",
    "limit_output_megapixels": "Most megapixels one batch makes (width x height x batch size, hires size included)",
    "limit_prompt_chars": "Longest prompt / negative prompt (characters)",
    "limit_batch_size": "Largest batch size",
    "limit_n_iter": "Largest batch count",
    "CLIP_stop_at_last_layers": "Clip skip",
    "sd_vae": "SD VAE",
}
TAB_KEYS: list[str] = [key for keys in GROUPS.values() for key in keys]


def tab_values(ctx: AtelierContext) -> list[Any]:
    """Current values of the Settings tab's fields, in TAB_KEYS order."""
    settings = ctx.settings
    return [getattr(settings, key) for key in TAB_KEYS]


def apply_tab(ctx: AtelierContext, values: dict[str, Any]) -> str:
    """Validate and save the Settings tab's fields together (all or nothing), then use them."""
    try:
        ctx.settings_store.update(values)
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    ctx.apply_settings()
    message = f"Settings saved to {ctx.settings_store.path}."
    if ctx.settings.show_progress_type == "TAESD" and not taesd_files(ctx):
        folder = ctx.config.models_dir / TAESD_FOLDER
        message += (f" No TAESD decoder in {folder} (taesd_decoder.* / taesdxl_decoder.*): live previews use the"
                    " cheap approximation until one is there.")
    return message


def taesd_files(ctx: AtelierContext) -> list[str]:
    """The TAESD decoder file for the loaded model's family, if present (for the Settings notice)."""
    current = ctx.manager.current
    archs = [current.architecture] if current is not None else []
    return [str(path) for arch in archs if (path := decoder_file(ctx.config.models_dir, arch)) is not None]


def restore_defaults(ctx: AtelierContext) -> Settings:
    """Every option back to its default, keeping the loaded checkpoint; the VAE goes back to
    Automatic."""
    checkpoint = ctx.settings.sd_model_checkpoint
    ctx.settings_store.reset()
    settings = ctx.settings_store.update({"sd_model_checkpoint": checkpoint})
    ctx.queue.run("load-vae", lambda control: ctx.manager.select_vae(settings.sd_vae))
    ctx.apply_settings()
    return settings


def vae_choices(ctx: AtelierContext) -> list[str]:
    """The quick-settings VAE dropdown: Automatic, None, then every file of models/VAE."""
    return [VAE_AUTOMATIC, VAE_NONE, *(vae.name for vae in ctx.catalog.usable_vaes())]


def select_vae(ctx: AtelierContext, choice: str) -> str:
    """Use ``choice`` from now on (through the queue, after running jobs) and remember it."""
    try:
        choice = ctx.manager.check_vae(choice or VAE_AUTOMATIC)
        ctx.queue.run("load-vae", lambda control: ctx.manager.select_vae(choice))
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    ctx.settings_store.update({"sd_vae": choice})
    return f"VAE: {choice}"


def set_clip_skip(ctx: AtelierContext, value: float) -> str:
    """Remember clip skip; the next generation uses it."""
    try:
        ctx.settings_store.update({"CLIP_stop_at_last_layers": int(value)})
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    return f"Clip skip: {int(value)}"
