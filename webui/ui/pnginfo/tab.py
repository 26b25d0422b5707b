"""PNG Info tab: drop an image, read its infotext and metadata, send it to txt2img / img2img."""

from __future__ import annotations

import gradio as gr

from webui.ui.generation import actions


def png_info_tab() -> dict[str, gr.components.Component]:
    """Build the tab; returns the image, its text and the send buttons (wired by build_ui)."""
    with gr.Row():
        image = gr.Image(label="Source", type="pil", format="png", elem_id="pnginfo_image")
        with gr.Column():
            text = gr.Textbox(label="Parameters", lines=8, elem_id="pnginfo_text")
            fields = gr.JSON(label="Parsed")
            with gr.Row():
                to_txt2img = gr.Button("Send to txt2img", elem_id="pnginfo_send_to_txt2img")
                to_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_to_img2img")
    image.change(actions.png_info, image, [text, fields], api_name="png_info")
    return {"image": image, "text": text, "txt2img": to_txt2img, "img2img": to_img2img}
