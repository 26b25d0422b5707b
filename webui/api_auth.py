"""``--api-auth``: HTTP Basic on every API route, as A1111's ``Api.auth``.

A route dependency rather than a middleware, so OpenAPI (``/docs``) shows the scheme and the
Gradio UI mounted beside the API is never touched.
"""

from __future__ import annotations

from secrets import compare_digest
from typing import Callable, Optional, Sequence

from fastapi import Depends, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials

Credentials = Sequence[tuple[str, str]]
REALM = "Atelier API"


def _matches(given: HTTPBasicCredentials, allowed: Credentials) -> bool:
    """Constant-time in the credentials' contents: every pair is compared, always."""
    user, password = given.username.encode(), given.password.encode()
    found = False
    for allowed_user, allowed_password in allowed:
        same_user = compare_digest(user, allowed_user.encode())
        same_password = compare_digest(password, allowed_password.encode())
        found |= same_user and same_password
    return found


def _unauthorized() -> HTTPException:
    return HTTPException(401, "this API needs a user name and password (HTTP Basic, see --api-auth)",
                         headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


class _BasicScheme(HTTPBasic):
    """FastAPI's HTTP Basic parser, answering a malformed header with the same 401 as a wrong one."""

    def make_not_authenticated_error(self) -> HTTPException:
        return _unauthorized()


def basic_auth(allowed: Credentials) -> Callable[..., None]:
    """A FastAPI dependency that answers 401 (with ``WWW-Authenticate``) unless the request
    carries one of the ``allowed`` user/password pairs."""
    scheme = _BasicScheme(auto_error=False, realm=REALM)

    def require(given: Optional[HTTPBasicCredentials] = Depends(scheme)) -> None:
        if given is None or not _matches(given, allowed):
            raise _unauthorized()

    return require
