"""The Gradio Blocks UI: the quick-settings bar and the tabs, each built by its own module.

Layout and wiring only: every button calls ``webui.ui.generation.actions`` (or a tab module's actions).
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from pipelines.context import AtelierContext
from webui.ui.settings import actions as settings_actions
from webui.ui.faces import actions as faces_actions
from webui.ui.generation import actions
from webui.extensions.host import ExtensionHost
from webui.ui.common import user_error
from webui.ui.detect.tab import detect_tab
from webui.ui.faces.tab import faces_tab
from webui.ui.generation.tab import generation_tab
from webui.ui.models.tab import models_tab
from webui.ui.pnginfo.tab import png_info_tab
from webui.ui.extensions.tab import build_extension_tab, extensions_tab
from webui.ui.settings.tab import settings_tab
from webui.ui.generation.transfer import wire_gallery_sends, wire_png_info_sends, wire_read_params

CSS = """
.infotext { white-space: pre-wrap; font-size: 0.85em; }
.warning { color: #b45309; }
@media (max-width: 700px) {
  .gradio-container .row, .gradio-container .prompt-row, .gradio-container .generation-row,
  #quicksettings { flex-direction: column !important; }
  .gradio-container .row > *, .gradio-container .column { min-width: 100% !important; }
}
"""

# Ctrl+Enter generates on the visible tab, Esc interrupts it (A1111's shortcuts).
HEAD = """
<script>
document.addEventListener("keydown", (event) => {
  const visible = (selector) => [...document.querySelectorAll(selector)].find((el) => el.offsetParent !== null);
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    const button = visible("#txt2img_generate, #img2img_generate");
    if (button) { event.preventDefault(); button.click(); }
  } else if (event.key === "Escape") {
    const button = visible("#txt2img_interrupt, #img2img_interrupt");
    if (button) { button.click(); }
  }
});
</script>
"""


def _quick_settings(ctx: AtelierContext) -> dict[str, gr.components.Component]:
    """The bar on top (A1111 quicksettings): checkpoint (with 🔄 to rescan the folders), VAE,
    clip skip, each saved when changed; below it the empty-folder hint while there is no model."""
    titles = actions.checkpoint_titles(ctx)
    settings = ctx.settings
    with gr.Row(elem_id="quicksettings"):
        checkpoint = gr.Dropdown(titles, value=actions.selected_checkpoint_title(ctx), label="Stable Diffusion checkpoint",
                                 elem_id="quick_checkpoint", scale=3)
        refresh = gr.Button("🔄", scale=0, min_width=40, elem_id="quick_checkpoint_refresh")
        vae = gr.Dropdown(settings_actions.vae_choices(ctx), value=ctx.manager.vae_choice,
                          label=settings_actions.LABELS["sd_vae"], elem_id="quick_sd_vae", scale=2)
        clip_skip = gr.Slider(1, 12, value=settings.CLIP_stop_at_last_layers, step=1,
                              label=settings_actions.LABELS["CLIP_stop_at_last_layers"],
                              elem_id="quick_clip_skip", scale=1)
    load_status = gr.Markdown(actions.checkpoint_hint(ctx), elem_id="quick_status")

    def checkpoint_fn(title: str) -> str:
        with user_error():
            return actions.select_checkpoint(ctx, title)

    def vae_fn(choice: str) -> str:
        with user_error():
            return settings_actions.select_vae(ctx, choice)

    def clip_skip_fn(value: float) -> str:
        with user_error():
            return settings_actions.set_clip_skip(ctx, value)

    checkpoint.input(checkpoint_fn, checkpoint, load_status, api_name="quick_checkpoint")
    vae.input(vae_fn, vae, load_status, api_name="quick_sd_vae")
    clip_skip.release(clip_skip_fn, clip_skip, load_status, api_name="quick_clip_skip")
    # 🔄 does what the Models tab's Refresh does (models_tab wires it: the cards change too)
    return {"sd_model_checkpoint": checkpoint, "status": load_status, "refresh": refresh, "sd_vae": vae,
            "CLIP_stop_at_last_layers": clip_skip}


def _quick_values(ctx: AtelierContext) -> list[Any]:
    """What the quick-settings bar shows now: checkpoint, hint, VAE, clip skip (in that order)."""
    return [gr.update(choices=actions.checkpoint_titles(ctx), value=actions.selected_checkpoint_title(ctx)),
            actions.checkpoint_hint(ctx),
            gr.update(choices=settings_actions.vae_choices(ctx), value=ctx.manager.vae_choice),
            ctx.settings.CLIP_stop_at_last_layers]


def _read_on_load(ctx: AtelierContext, demo: gr.Blocks, quick: dict[str, gr.components.Component],
                  styles: list[gr.Dropdown], faces_notice: gr.components.Component) -> None:
    """Every value that lives on the server is read when a page opens, not when the UI was built:
    another tab or session may have switched the checkpoint, saved a style or acknowledged the notice."""

    def current() -> list[Any]:
        names = ctx.styles.names()
        return [*_quick_values(ctx), *(gr.update(choices=names) for _ in styles),
                gr.update(visible=faces_actions.notice_needed(ctx))]

    outputs = [quick["sd_model_checkpoint"], quick["status"], quick["sd_vae"], quick["CLIP_stop_at_last_layers"],
               *styles, faces_notice]
    demo.load(current, None, outputs, queue=False, show_progress="hidden")


def build_ui(ctx: AtelierContext, extensions: Optional[ExtensionHost] = None, logout: bool = False) -> gr.Blocks:
    """All tabs over one context; the Extensions tab and extensions' own tabs after Settings;
    a "Log out" link when the server has users."""
    with gr.Blocks(title="Atelier") as demo:
        if logout:
            gr.HTML('<a href="/logout" id="logout_link">Log out</a>', elem_id="logout")
        # Start-up problems (a damaged config.json moved aside, a saved VAE that is gone)
        gr.Markdown("\n\n".join(f"**Notice:** {notice}" for notice in ctx.notices), elem_id="startup_notices",
                    elem_classes=["warning"], visible=bool(ctx.notices))
        quick = _quick_settings(ctx)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                txt2img = generation_tab(ctx, "txt2img")
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                img2img = generation_tab(ctx, "img2img")
            with gr.Tab("Faces", id="faces", elem_id="tab_faces"):
                faces = faces_tab(ctx)
            with gr.Tab("Detect", id="detect", elem_id="tab_detect"):
                detect_tab(ctx)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                png = png_info_tab()
            with gr.Tab("Models", id="models", elem_id="tab_models"):
                models_tab(ctx, quick, demo)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                settings_tab(ctx, quick)
            if extensions is not None:
                with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                    extensions_tab(extensions)
                for tab in extensions.tabs:
                    with gr.Tab(tab.title):
                        build_extension_tab(tab)
        for source in (txt2img, img2img):
            wire_gallery_sends(source, img2img, faces, tabs)
        wire_png_info_sends(png, txt2img, img2img, tabs)
        for tab in (txt2img, img2img):
            wire_read_params(ctx, tab, quick)
        _read_on_load(ctx, demo, quick, [txt2img.fields["styles"], img2img.fields["styles"]], faces["notice"])
    return demo
