"""One wording of engine errors for people, shared by the API and the UI."""

from __future__ import annotations

from pydantic import ValidationError


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
    text = str(exc) or type(exc).__name__
    return text[:2000]
