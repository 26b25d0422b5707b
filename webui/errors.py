"""The errors the web layer raises on purpose, and the one wording of any error for people.

``UserError`` (the UI shows it as a notice) and ``ApiError`` (a route answers it with its HTTP
status) live here, below every UI and API module, so that none of them imports another to
reach an exception class. :func:`user_message` is the only place an exception becomes text.
"""

from __future__ import annotations

from pydantic import ValidationError


class UserError(Exception):
    """Something the person can fix; the UI shows the message as a notice."""


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def user_message(exc: BaseException) -> str:
    """A one-paragraph explanation of ``exc`` without a traceback."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()))
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "Out of memory: try a smaller image size or batch size. Atelier is still running."
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0][:2000]  # str(KeyError) would quote the message
    text = str(exc) or type(exc).__name__
    return text[:2000]
