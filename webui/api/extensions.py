"""``GET /sdapi/v1/extensions``: A1111's list of installed extensions, with Atelier's status and error."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from webui.extensions.host import ExtensionHost


def extensions_router(host: Optional[ExtensionHost]) -> APIRouter:
    """The route over ``host``'s records (an app built without extensions lists none)."""
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.get("/extensions")
    def extensions() -> list[dict]:
        return [record.row() for record in host.records] if host else []

    return router
