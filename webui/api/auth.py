"""The API routes' side of authentication: a route dependency that shows the HTTP Basic scheme
in OpenAPI (``/docs`` → Authorize) and refuses any request the :mod:`webui.middleware.auth_gate`
middleware did not let in (the gate checks Basic credentials and the browser's session cookie;
this is the second lock, should a route ever be reached without it)."""

from __future__ import annotations

from typing import Callable, Optional

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from webui.middleware.auth_gate import REALM, UNAUTHORIZED, authenticated_user
from webui.credentials import Credentials

__all__ = ["Credentials", "basic_auth"]


def _unauthorized() -> HTTPException:
    return HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


class _BasicScheme(HTTPBasic):
    """FastAPI's HTTP Basic scheme (for OpenAPI), never failing by itself: the gate decides."""

    def make_not_authenticated_error(self) -> HTTPException:
        return _unauthorized()


def basic_auth(allowed: Credentials) -> Callable[..., None]:
    """A FastAPI dependency that answers 401 (with ``WWW-Authenticate``) unless the gate
    authenticated the request as one of the ``allowed`` users."""
    scheme = _BasicScheme(auto_error=False, realm=REALM)
    users = {user for user, _ in allowed}

    def require(request: Request, _: Optional[HTTPBasicCredentials] = Depends(scheme)) -> None:
        if authenticated_user(request.scope) not in users:
            raise _unauthorized()

    return require
