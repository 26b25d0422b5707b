"""The last line of defence: an unexpected exception becomes one clean 500 JSON answer.

Starlette hands ``Exception`` handlers to its outermost ``ServerErrorMiddleware``, which sends
the handler's response and then *re-raises*: uvicorn logs "Exception in ASGI application" and
drops the connection, so a client that keeps its HTTP connection alive gets
``ConnectionResetError`` on its next call. This middleware sits inside that one and swallows
the exception after answering, so the connection stays usable.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from webui.errors import user_message

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class CatchUnexpected:
    """Pure ASGI middleware: log the traceback, answer ``{"error": "InternalError", ...}``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the point of this middleware
            log.error("unexpected error in %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            if started:  # a streamed body broke half-way: nothing valid can be sent any more
                return
            body = json.dumps({"error": "InternalError", "detail": user_message(exc)}).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


def answer_wrong_methods(app: Any) -> None:
    """A known path called with a method it lacks answers 405 with ``Allow`` (FastAPI's and
    A1111's answer), also when the Gradio UI, mounted at ``/`` afterwards, would otherwise take
    the request and answer 404. Call after every API route is added."""
    from fastapi.routing import APIRoute
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    allowed: dict[str, set[str]] = {}
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            allowed.setdefault(route.path, set()).update(route.methods or ())
        elif hasattr(route, "original_router"):  # FastAPI >= 0.165 keeps included routers whole
            pending += route.original_router.routes

    def refusal(allow: str) -> Callable[[Any], Awaitable[JSONResponse]]:
        async def not_allowed(_request: Any) -> JSONResponse:
            return JSONResponse(status_code=405, headers={"Allow": allow},
                                content={"error": "HTTPException", "detail": "Method Not Allowed"})

        return not_allowed

    for path, methods in allowed.items():
        others = sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - methods)
        if others:
            app.router.routes.append(Route(path, refusal(", ".join(sorted(methods))), methods=others))
