"""Detect tab, learned detectors section: score faces in images / videos, train a detector."""

from __future__ import annotations

from pipelines.context import AtelierContext


def deepfake_section(ctx: AtelierContext) -> None:
    """Placeholder until the learned detectors land."""
