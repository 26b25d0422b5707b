"""Faces tab (detect, swap image / video)."""

from __future__ import annotations

import gradio as gr

from pipelines.context import AtelierContext


def faces_tab(ctx: AtelierContext) -> None:
    gr.Markdown("Face detection and swap arrive with the Faces engine.")
