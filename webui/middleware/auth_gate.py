"""One authentication in front of the whole app (UI, Gradio API, docs, REST, extension routes).

An ASGI middleware rather than Gradio's own ``auth=``: Gradio's login only guards Gradio's
routes, and the FastAPI routes beside it need the same users. A request passes with HTTP Basic
credentials (API clients) or the signed session cookie that ``POST /login`` sets (browsers,
and ``gradio_client``'s ``auth=``, which posts the same form to ``/login``). Anything else gets
the login page (a browser opening a page) or a 401 with ``WWW-Authenticate: Basic``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import secrets
import time
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import parse_qs, quote

from webui.credentials import Credentials

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

USER_KEY = "atelier.user"
"""Where the gate leaves the authenticated user's name in the ASGI scope."""
LOGIN_PATH, LOGOUT_PATH = "/login", "/logout"
COOKIE = "atelier-session"
SESSION_SECONDS = 7 * 24 * 3600
REALM = "Atelier"
_MAX_FORM_BYTES = 16 * 1024
UNAUTHORIZED = ("this server needs a user name and password: log in at /login, or send HTTP Basic credentials "
                "(the users of --api-auth / --gradio-auth-path / ATELIER_AUTH)")


def credentials_match(user: str, password: str, allowed: Credentials) -> bool:
    """Constant-time in the credentials' contents: every pair is compared, always."""
    given_user, given_password = user.encode(), password.encode()
    found = False
    for allowed_user, allowed_password in allowed:
        same_user = hmac.compare_digest(given_user, allowed_user.encode())
        same_password = hmac.compare_digest(given_password, allowed_password.encode())
        found |= same_user and same_password
    return found


def basic_credentials(header: Optional[str]) -> Optional[tuple[str, str]]:
    """(user, password) of an ``Authorization: Basic …`` header; None when absent or malformed."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class SessionSigner:
    """Session cookies ``<user>.<expiry>.<hmac>`` under a key that lives as long as the process:
    no session store, and a restart (or a changed password) logs everyone out."""

    def __init__(self, key: Optional[bytes] = None, lifetime_s: int = SESSION_SECONDS) -> None:
        self._key = key or secrets.token_bytes(32)
        self.lifetime_s = lifetime_s

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, user: str, now: Optional[float] = None) -> str:
        name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        payload = f"{name}.{int((now or time.time()) + self.lifetime_s)}"
        return f"{payload}.{self._sign(payload)}"

    def user(self, token: Optional[str], now: Optional[float] = None) -> Optional[str]:
        """The user a valid, unexpired token names; None otherwise."""
        name, _, rest = (token or "").partition(".")
        expires, _, signature = rest.partition(".")
        if not (name and expires.isascii() and expires.isdigit()):
            return None
        if not hmac.compare_digest(signature.encode("latin-1", "replace"), self._sign(f"{name}.{expires}").encode()):
            return None
        if int(expires) < (now or time.time()):
            return None
        try:
            return base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> Optional[str]:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _safe_next(target: Optional[str]) -> str:
    """Only a path on this server (never ``//host`` or a URL): no open redirect."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target)):  # browsers drop tabs: "/\t/host"
        return "/"
    return target


async def _respond(send: Send, status: int, body: bytes, content_type: str,
                   headers: tuple[tuple[str, str], ...] = ()) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
           (b"cache-control", b"no-store"), *((k.encode(), v.encode()) for k, v in headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, content: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
    await _respond(send, status, json.dumps(content).encode(), "application/json", headers)


def login_page(next_path: str, error: str = "") -> bytes:
    """A self-contained page (no scripts, no outside resources) with the login form."""
    notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Atelier: log in</title>
<style>
body {{ font-family: system-ui, sans-serif; display: flex; justify-content: center; margin-top: 12vh; }}
form {{ display: flex; flex-direction: column; gap: .6em; width: 18em; }}
input, button {{ font-size: 1em; padding: .45em; }} .error {{ color: #b91c1c; }}
</style></head>
<body><form method="post" action="{LOGIN_PATH}">
<h1>Atelier</h1>{notice}
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{html.escape(next_path)}">
<button id="login" type="submit">Log in</button>
</form></body></html>""".encode()


class AuthGate:
    """ASGI middleware: every HTTP request and websocket needs one of ``credentials``."""

    def __init__(self, app: Callable, credentials: Credentials, signer: Optional[SessionSigner] = None) -> None:
        self.app = app
        self.credentials = tuple(credentials)
        self.signer = signer or SessionSigner()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == LOGIN_PATH:
            await self._login(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == LOGOUT_PATH:
            cleared = (("set-cookie", f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"),
                       ("location", LOGIN_PATH))
            await _respond(send, 303, b"", "text/plain", cleared)
            return
        headers = _headers(scope)
        user = self._user(headers)
        if user is not None:
            await self.app({**scope, USER_KEY: user}, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif self._is_page_visit(scope, headers):
            target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            await _respond(send, 303, b"", "text/plain", (("location", f"{LOGIN_PATH}?next={quote(target)}"),))
        else:
            await _json(send, 401, {"error": "HTTPException", "detail": UNAUTHORIZED},
                        (("www-authenticate", f'Basic realm="{REALM}"'),))

    def _user(self, headers: dict[str, str]) -> Optional[str]:
        basic = basic_credentials(headers.get("authorization"))
        if basic is not None:
            return basic[0] if credentials_match(*basic, self.credentials) else None
        return self.signer.user(_cookie(headers, COOKIE))

    @staticmethod
    def _is_page_visit(scope: Scope, headers: dict[str, str]) -> bool:
        """A browser opening a page (not a script, not an API client with wrong credentials)."""
        return (scope["method"] in ("GET", "HEAD") and "text/html" in headers.get("accept", "")
                and "authorization" not in headers)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        wants_page = "text/html" in headers.get("accept", "")
        if scope["method"] in ("GET", "HEAD"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            await _respond(send, 200, login_page(_safe_next(query.get("next", ["/"])[0])), "text/html; charset=utf-8")
            return
        if scope["method"] != "POST":
            await _json(send, 405, {"error": "HTTPException", "detail": "use GET or POST on /login"})
            return
        form = await _read_form(receive)
        user, password = form.get("username", ""), form.get("password", "")
        next_path = _safe_next(form.get("next"))
        if not credentials_match(user, password, self.credentials):
            if wants_page:
                await _respond(send, 401, login_page(next_path, "Wrong user name or password."),
                               "text/html; charset=utf-8")
            else:
                await _json(send, 401, {"error": "HTTPException", "detail": "wrong user name or password"})
            return
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = (f"{COOKIE}={self.signer.issue(user)}; Max-Age={self.signer.lifetime_s}; Path=/; HttpOnly; "
                  f"SameSite=Lax{secure}")
        if wants_page:
            await _respond(send, 303, b"", "text/plain", (("set-cookie", cookie), ("location", next_path)))
        else:
            await _json(send, 200, {"success": True}, (("set-cookie", cookie),))


async def _read_form(receive: Receive) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (what the page and gradio_client send), capped."""
    body, more = b"", True
    while more and len(body) <= _MAX_FORM_BYTES:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    fields = parse_qs(body[:_MAX_FORM_BYTES].decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def authenticated_user(scope: Scope) -> Optional[str]:
    """The user the gate let in (None when the app runs without authentication)."""
    return scope.get(USER_KEY)

