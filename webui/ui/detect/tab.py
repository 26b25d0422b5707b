"""Detect tab: provenance marks and infotext of an image, then the learned deepfake detectors."""

from __future__ import annotations

from typing import Optional

import gradio as gr

from pipelines.context import AtelierContext
from webui.ui.detect import provenance_actions as actions
from webui.ui.common import user_error
from webui.ui.detect.learned_tab import deepfake_section


def detect_tab(ctx: AtelierContext) -> None:
    gr.Markdown("### Provenance\nDrop an image to read its infotext, provenance record, C2PA manifest and "
                "invisible watermarks (SDXL and Atelier). Finding nothing does not prove an image is real.")
    with gr.Row():
        # filepath: the file as uploaded, so its metadata and C2PA manifest are not re-encoded away
        image = gr.Image(label="Image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                         elem_id="detect_image")
        with gr.Column():
            verdict = gr.Markdown(elem_id="detect_verdict")
            table = gr.Dataframe(headers=actions.SIGNAL_COLUMNS, datatype=["str", "str", "str"], interactive=False,
                                 wrap=True, elem_id="detect_signals")
    inspect = gr.Button("Inspect", variant="primary", elem_id="detect_inspect")

    def inspect_fn(path: Optional[str]) -> tuple[list[list[str]], str]:
        with user_error():
            return actions.inspect_upload(path)

    inspect.click(inspect_fn, image, [table, verdict])
    image.upload(inspect_fn, image, [table, verdict])
    deepfake_section(ctx)
