"""Refuse request bodies larger than the ``limit_request_body_mb`` setting with a 413.

Checked on the declared ``Content-Length`` before anything is read, and again while a body
without one (chunked) streams in, so no request can make the server buffer more than the
limit. Multipart uploads (the UI's files, the video routes) may be as large as the largest
video the face-swap routes accept, which check their own limit.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """ASGI middleware; ``limits(content_type)`` gives the limit in bytes for one request, read
    per request so a changed setting applies at once."""

    def __init__(self, app: ASGIApp, limits: Callable[[str], int]) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        limit = self.limits(headers.get("content-type", ""))
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, int(declared), limit)
            return
        state = {"received": 0, "refused": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not state["refused"]:
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        await _refuse(send, state["received"], limit)
                    return {"type": "http.disconnect"}  # the app stops reading; its answer is dropped
            return message

        async def guarded_send(message: Message) -> None:
            if not state["refused"]:
                state["started"] = state["started"] or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise


async def _refuse(send: Send, size: int, limit: int) -> None:
    detail = (f"request body of {size / 1048576:.1f} MB (or more) is larger than the limit of "
              f"{limit / 1048576:g} MB (setting limit_request_body_mb)")
    body = json.dumps({"error": "RequestTooLarge", "detail": detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
