"""Faces tab (detect, swap image / video)."""

from __future__ import annotations

import gradio as gr

from pipelines.context import AtelierContext
from webui.ui_faces_video import faces_video_section


def faces_tab(ctx: AtelierContext) -> dict[str, gr.components.Component]:
    """Build the tab; returns the components other tabs send images to ("source_image", "target_image")."""
    gr.Markdown("Face detection and swap arrive with the Faces engine.")
    with gr.Row():
        source = gr.Image(label="Source face", type="pil", format="png", elem_id="faces_source_image")
        target = gr.Image(label="Target image", type="pil", format="png", elem_id="faces_target_image")
    faces_video_section(ctx)
    return {"source_image": source, "target_image": target}
