"""The Gradio Blocks UI: the quick-settings bar and the tabs, each built by its own module.

Layout and wiring only: every button calls ``webui.ui_actions`` (or a tab module's actions).
"""

from __future__ import annotations

from typing import Optional

import gradio as gr

from pipelines.context import AtelierContext
from webui import ui_actions as actions
from webui.extensions.host import ExtensionHost
from webui.ui_detect import detect_tab
from webui.ui_faces import faces_tab
from webui.ui_generation import generation_tab
from webui.ui_models import models_tab
from webui.ui_pnginfo import png_info_tab
from webui.ui_extensions import build_extension_tab, extensions_tab
from webui.ui_settings import settings_tab

CSS = """
.infotext { white-space: pre-wrap; font-size: 0.85em; }
.warning { color: #b45309; }
"""


def build_ui(ctx: AtelierContext, extensions: Optional[ExtensionHost] = None) -> gr.Blocks:
    """All tabs over one context; the Extensions tab and extensions' own tabs after Settings."""
    titles = actions.checkpoint_titles(ctx)
    with gr.Blocks(title="Atelier") as demo:
        with gr.Row():
            checkpoint = gr.Dropdown(titles, value=actions.selected_checkpoint_title(ctx), label="Stable Diffusion checkpoint",
                                     elem_id="quick_checkpoint", scale=3)
            load_status = gr.Markdown("" if titles else actions.empty_folder_hint(ctx.catalog.models_dir))

        def select_fn(title: str) -> str:
            try:
                return actions.select_checkpoint(ctx, title)
            except actions.UserError as exc:
                raise gr.Error(str(exc)) from exc

        checkpoint.input(select_fn, checkpoint, load_status)
        with gr.Tab("txt2img", id="txt2img"):
            generation_tab(ctx, "txt2img")
        with gr.Tab("img2img", id="img2img"):
            generation_tab(ctx, "img2img")
        with gr.Tab("Faces", id="faces"):
            faces_tab(ctx)
        with gr.Tab("Detect", id="detect"):
            detect_tab(ctx)
        with gr.Tab("PNG Info", id="pnginfo"):
            png_info_tab()
        with gr.Tab("Models", id="models"):
            models_tab(ctx, checkpoint, demo)
        with gr.Tab("Settings", id="settings"):
            settings_tab(ctx)
        if extensions is not None:
            with gr.Tab("Extensions", id="extensions"):
                extensions_tab(extensions)
            for tab in extensions.tabs:
                with gr.Tab(tab.title):
                    build_extension_tab(tab)
    return demo
