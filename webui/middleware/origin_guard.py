"""Cross-site request forgery, DNS rebinding and CORS: which web pages may talk to the server.

A browser attaches a user's session cookie or cached Basic credentials to requests that any
web page starts, and a page on a rebinding host name reaches a loopback server as "same
origin". So every state-changing request (any method but GET / HEAD / OPTIONS, Gradio's
queue and upload endpoints included, and every websocket) must come from this server's own
origin or an origin the ``--cors-allow-origins`` flags name; a loopback-only server also
answers only to loopback host names. CORS follows the same allow-list and never echoes an
arbitrary origin with credentials (Starlette's CORSMiddleware on the outer app, which also
stops Gradio from adding its own, localhost-trusting CORS headers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from webui.middleware.auth_gate import Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class OriginPolicy:
    """Origins allowed besides the server's own, and the host names it answers to (None: any)."""

    allowed_origins: tuple[str, ...] = ()
    allowed_origin_regex: Optional[str] = None
    trusted_hosts: Optional[tuple[str, ...]] = None

    def allows(self, origin: str) -> bool:
        if origin in self.allowed_origins and origin != "*":
            return True
        return bool(self.allowed_origin_regex) and re.fullmatch(self.allowed_origin_regex, origin) is not None


def parse_origins(text: str) -> tuple[str, ...]:
    """``--cors-allow-origins a,b`` → ("a", "b"), each without a trailing slash."""
    return tuple(item.strip().rstrip("/") for item in (text or "").split(",") if item.strip())


def _origin_of(url: str) -> Optional[str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def cross_site_origin(headers: dict[str, str], policy: OriginPolicy) -> Optional[str]:
    """The origin a request comes from when it is neither this server's nor an allowed one
    (``Origin``, else ``Referer``); None when the request may go on. A request with neither
    header (curl, scripts, API clients) is not a browser's cross-site request."""
    origin = headers.get("origin")
    if origin is None and headers.get("referer"):
        origin = _origin_of(headers["referer"]) or "null"
    if origin is None:
        return None
    if origin != "null" and urlsplit(origin).netloc.lower() == headers.get("host", "").lower():
        return None
    return None if policy.allows(origin) else origin


def _host_name(host_header: str) -> str:
    return (urlsplit(f"//{host_header}").hostname or "").lower()


class OriginGuard:
    """ASGI middleware: 403 for cross-site state changes, 421 for host names a loopback-only
    server does not answer to."""

    def __init__(self, app: Callable, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        trusted = self.policy.trusted_hosts
        if trusted is not None and _host_name(headers.get("host", "")) not in trusted:
            await self._refuse(scope, send, 421, f"this server answers only to {', '.join(trusted)} (it listens on "
                               "loopback; a foreign host name is how DNS rebinding reaches it)")
            return
        if scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS:
            origin = cross_site_origin(headers, self.policy)
            if origin is not None:
                await self._refuse(scope, send, 403, f"cross-site request refused: a page from {origin} may not "
                                   "change anything here (allow it with --cors-allow-origins)")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": "HTTPException", "detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def install_origin_checks(app: Any, policy: OriginPolicy) -> None:
    """The guard, then CORS outermost (so preflights are answered and errors carry CORS headers
    for allowed origins). ``*`` allows reads from any page, never with credentials."""
    from starlette.middleware.cors import CORSMiddleware

    app.add_middleware(OriginGuard, policy=policy)
    app.add_middleware(CORSMiddleware, allow_origins=list(policy.allowed_origins),
                       allow_origin_regex=policy.allowed_origin_regex,
                       allow_credentials="*" not in policy.allowed_origins, allow_methods=["*"], allow_headers=["*"])

