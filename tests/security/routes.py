"""Every route an app serves, the mounted Gradio app's included, so that a new route is covered
by the security tests the moment it exists."""

from __future__ import annotations

import re
from typing import Any, Iterator

from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from webui.middleware.auth_gate import LOGIN_PATH, LOGOUT_PATH

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PARAM = re.compile(r"\{[^}]+\}")


def app_routes(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every endpoint, descending into mounts and included routers."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            if getattr(route.app, "routes", None):
                yield from app_routes(route.app, prefix + route.path)
            else:  # static files
                yield "GET", prefix + route.path + "/{file}"
            continue
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                yield method, prefix + (context.path or "")


def concrete(path: str) -> str:
    """A request path for a template: every parameter becomes ``x``."""
    return _PARAM.sub("x", path) or "/"


def guarded_routes(app: Any) -> list[tuple[str, str]]:
    """Every route except the login and logout pages themselves (which must stay reachable)."""
    return sorted({(m, concrete(p)) for m, p in app_routes(app) if p not in (LOGIN_PATH, LOGOUT_PATH)})


def state_changing(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in routes if m not in SAFE_METHODS]
