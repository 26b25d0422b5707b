"""PNG Info tab: drop an image, read its infotext and metadata."""

from __future__ import annotations

import gradio as gr

from webui import ui_actions as actions


def png_info_tab() -> None:
    with gr.Row():
        image = gr.Image(label="Source", type="pil", format="png", elem_id="pnginfo_image")
        with gr.Column():
            text = gr.Textbox(label="Parameters", lines=8, elem_id="pnginfo_text")
            fields = gr.JSON(label="Parsed")
    image.change(lambda im: actions.png_info(im), image, [text, fields])
