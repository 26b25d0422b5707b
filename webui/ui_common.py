"""Small helpers shared by the UI tab modules."""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr


def owner(request: Optional[gr.Request]) -> Optional[str]:
    """The browser session that owns a job (interrupt / skip only reach one's own jobs)."""
    return getattr(request, "session_hash", None) if request is not None else None


def gallery_items(result: Any) -> list[tuple[Any, str]]:
    """Gallery entries (image, caption) for a finished generation result."""
    return [(image, f"seed {seed}") for image, seed in zip(result.images, result.seeds)]
