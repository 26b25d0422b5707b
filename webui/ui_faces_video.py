"""Faces tab, video section: swap faces in a video as a queued job."""

from __future__ import annotations

from pipelines.context import AtelierContext


def faces_video_section(ctx: AtelierContext) -> None:
    """Placeholder until the video swap engine lands."""
