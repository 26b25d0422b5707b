"""Settings tab: persisted options in <data-dir>/config.json."""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipelines.context import AtelierContext
from webui import ui_actions as actions


def settings_tab(ctx: AtelierContext) -> None:
    s = ctx.settings
    fmt = gr.Radio(["png", "jpg", "webp"], value=s.samples_format, label="File format for images")
    pnginfo = gr.Checkbox(s.enable_pnginfo, label="Save generation parameters (infotext) in images")
    preview = gr.Slider(0, 50, value=s.show_progress_every_n_steps, step=1, label="Live preview every N steps")
    cache = gr.Slider(0, 256, value=s.model_cache_gb, step=0.5, label="Model cache size (GB of RAM)")
    clip_skip = gr.Slider(1, 12, value=s.CLIP_stop_at_last_layers, step=1, label="Clip skip")
    save = gr.Button("Apply settings", variant="primary")
    status = gr.Markdown()

    def save_fn(*values: Any) -> str:
        keys = ["samples_format", "enable_pnginfo", "show_progress_every_n_steps", "model_cache_gb",
                "CLIP_stop_at_last_layers"]
        try:
            ctx.settings_store.update(dict(zip(keys, values)))
        except Exception as exc:
            raise gr.Error(actions.user_message(exc)) from exc
        ctx.apply_settings()
        return "Settings saved."

    save.click(save_fn, [fmt, pnginfo, preview, cache, clip_skip], status)
