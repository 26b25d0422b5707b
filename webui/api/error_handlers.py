"""How the REST API answers a failure: every expected error a 4xx JSON
``{"error": kind, "detail": message}``, anything else one 500 line (the traceback goes to the log)."""

from __future__ import annotations

from typing import Callable, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.extras.upscalers import UnknownUpscalerError
from pipelines.jobs import JobInterrupted
from pipelines.models.catalog import UnknownModelError
from pipelines.models.loader import ModelLoadError
from webui.middleware.catch_unexpected import CatchUnexpected
from webui.errors import ApiError, user_message
from webui.imagecodec import ImageDecodeError

# Exceptions that are the client's fault, by status (first match wins)
_CLIENT_ERRORS: tuple[tuple[type[BaseException], int], ...] = (
    (ValidationError, 422), (ImageDecodeError, 422), (UnknownModelError, 422), (UnknownUpscalerError, 422),
    (ModelLoadError, 400), (JobInterrupted, 409), (ValueError, 422),
)


def _error(status: int, message: str, kind: str) -> JSONResponse:
    # a message quoting client text with a lone surrogate must still render as UTF-8 JSON
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse(status_code=status, content={"error": kind, "detail": message})


def _validation_message(exc: Union[ValidationError, RequestValidationError]) -> str:
    """``field: problem; …`` with FastAPI's ``body`` prefix and pydantic's "Value error," dropped."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map engine exceptions to 4xx responses with readable messages; anything else is a 500
    with a one-line message (the traceback goes to the server log only)."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, "ApiError")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail), "HTTPException")
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc), "ValidationError")

    for exc_type, status in _CLIENT_ERRORS:
        app.add_exception_handler(exc_type, _handler(status))

    app.add_middleware(CatchUnexpected)  # a 500 that keeps the client's connection usable


def _handler(status: int) -> Callable:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else user_message(exc)
        return _error(status, message, type(exc).__name__)

    return handle
