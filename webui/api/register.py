"""Assemble the REST API on the app: error handlers, every router (``/sdapi/v1`` with
``--api``, ``/atelier/v1``, extensions'), HTTP Basic on all of them with ``--api-auth``."""

from __future__ import annotations

from typing import Optional, Sequence

from fastapi import APIRouter, Depends, FastAPI

from pipelines.context import AtelierContext
from webui.api.auth import Credentials, basic_auth
from webui.api.detect import detect_router
from webui.api.error_handlers import install_error_handlers
from webui.api.extras import extras_router
from webui.api.faces import faces_router
from webui.api.generation import generation_router
from webui.api.jobs import jobs_router
from webui.api.lists import lists_router
from webui.api.options import options_router
from webui.api.png_info import png_info_router
from webui.api.previews import previews_router
from webui.api.progress import progress_router
from webui.api.status import status_router
from webui.middleware.catch_unexpected import answer_wrong_methods


def register_api(app: FastAPI, ctx: AtelierContext, *, mount_sdapi: bool,
                 api_auth: Optional[Credentials] = None, extra_routers: Sequence[APIRouter] = ()) -> None:
    """Add error handlers, the status route, (with ``--api``) ``/sdapi/v1`` and the
    ``/atelier/v1`` routers, and ``extra_routers`` (extensions'); with ``api_auth`` every one
    of them needs HTTP Basic."""
    install_error_handlers(app)
    dependencies = [Depends(basic_auth(api_auth))] if api_auth else []
    routers = [status_router(ctx), previews_router(ctx)]  # previews: the Models tab's card images
    if mount_sdapi:
        routers += [generation_router(ctx), progress_router(ctx), options_router(ctx), png_info_router(),
                    lists_router(ctx), extras_router(ctx), faces_router(ctx), jobs_router(ctx), detect_router(ctx)]
    for router in [*routers, *extra_routers]:
        app.include_router(router, dependencies=dependencies)
    answer_wrong_methods(app)  # GET on a POST-only route: 405, not the UI's 404
