"""Small helpers shared by the UI tab modules."""

from __future__ import annotations

import inspect
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import gradio as gr

from webui.errors import UserError, user_message

log = logging.getLogger(__name__)


def owner(request: Optional[gr.Request]) -> Optional[str]:
    """The browser session that owns a job (interrupt / skip only reach one's own jobs)."""
    return getattr(request, "session_hash", None) if request is not None else None


def gallery_items(result: Any) -> list[tuple[Any, str]]:
    """Gallery entries (picture, caption) for a finished generation result: the saved files
    themselves when every image was saved, so the gallery's Download gives that file (its name,
    every PNG chunk, A1111's ``parameters`` included), else the images (nothing was saved)."""
    pictures = result.paths if len(result.paths) == len(result.images) else result.images
    return [(str(picture) if isinstance(picture, Path) else picture, f"seed {seed}")
            for picture, seed in zip(pictures, result.seeds)]


@contextmanager
def user_error(*also: type[Exception]) -> Iterator[None]:
    """Show a :class:`~webui.errors.UserError`, a ValueError from a check, or one of ``also``
    as a notice in the page (worded by :func:`~webui.errors.user_message`); the form stays as
    it was. The one way a UI callback reports an error: ``with user_error(): ...`` in the
    callback (generators too), or ``user_error()(fn)`` around a plain function.
    A routine mistake is one log line, never a traceback in the server log."""
    try:
        yield
    except (UserError, ValueError, *also) as exc:
        message = user_message(exc)
        log.warning("user error: %s", message.splitlines()[0] if message else type(exc).__name__)
        raise gr.Error(message, print_exception=False) from exc


def optional_keywords(inputs: Mapping[str, Any]) -> inspect.Signature:
    """``(request, *, name=None, …)`` for a handler taking ``inputs`` as keywords: Gradio then
    lists every one as optional in its API, so a gradio_client caller names only the fields it
    sets (an image left out arrives as None)."""
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    keywords = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in inputs]
    return inspect.Signature([request, *keywords])
