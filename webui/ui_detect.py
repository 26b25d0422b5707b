"""Detect tab (provenance marks, deepfake detectors)."""

from __future__ import annotations

import gradio as gr

from pipelines.context import AtelierContext


def detect_tab(ctx: AtelierContext) -> None:
    gr.Markdown("Deepfake and provenance detection arrive with the Detect engine.")
