"""Detect tab: provenance marks and infotext of an image, then the learned deepfake detectors."""

from __future__ import annotations

import gradio as gr

from pipelines.context import AtelierContext
from webui.ui_detect_learned import deepfake_section


def detect_tab(ctx: AtelierContext) -> None:
    gr.Markdown("Provenance detection arrives with the Detect engine.")
    deepfake_section(ctx)
