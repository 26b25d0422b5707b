"""Small helpers shared by the UI tab modules."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional

import gradio as gr

from webui import ui_actions as actions


def owner(request: Optional[gr.Request]) -> Optional[str]:
    """The browser session that owns a job (interrupt / skip only reach one's own jobs)."""
    return getattr(request, "session_hash", None) if request is not None else None


def gallery_items(result: Any) -> list[tuple[Any, str]]:
    """Gallery entries (image, caption) for a finished generation result."""
    return [(image, f"seed {seed}") for image, seed in zip(result.images, result.seeds)]


@contextmanager
def user_error() -> Iterator[None]:
    """Show a :class:`ui_actions.UserError` (or a ValueError from a check) as a notice in the page;
    the form stays as it was."""
    try:
        yield
    except (actions.UserError, ValueError) as exc:
        raise gr.Error(actions.user_message(exc)) from exc
