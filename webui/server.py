"""Build the FastAPI app (API routes + Gradio UI) around one application context and serve it."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING, Optional, Sequence

from fastapi import FastAPI

if TYPE_CHECKING:
    from pipelines.context import AtelierContext

log = logging.getLogger("atelier")


def create_app(ctx: "AtelierContext", *, api: bool = True, webui: bool = True,
               api_auth: Optional[Sequence[tuple[str, str]]] = None) -> FastAPI:
    """The ASGI app: ``/sdapi/v1`` when ``api``, the Gradio UI at ``/`` when ``webui``;
    ``api_auth`` (user, password) pairs put HTTP Basic on every API route."""
    from webui.api import register_api

    app = FastAPI(title="Atelier", version=_version(), docs_url="/docs")
    app.state.ctx = ctx
    register_api(app, ctx, mount_sdapi=api, api_auth=api_auth)
    if webui:
        import gradio as gr

        from webui.ui import CSS, build_ui

        blocks = build_ui(ctx)
        app = gr.mount_gradio_app(app, blocks, path="/", css=CSS, show_error=True)
    return app


def _version() -> str:
    from pipelines import __version__

    return __version__


def serve(args: argparse.Namespace) -> int:
    """Start the context and serve until terminated."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import uvicorn

    from pipelines.context import AppConfig, AtelierContext
    from webui.cli import public_flags

    config = AppConfig(
        data_dir=args.data_dir.resolve(),
        models_dir=args.models_dir.resolve(),
        device=args.device,
        precision=args.precision,
        cpu_threads=args.threads,
        hash_in_background=not args.no_hashing_at_start,
        cmd_flags=public_flags(args),
    )
    ctx = AtelierContext(config)
    if not ctx.catalog.usable_checkpoints():
        from pipelines.models.catalog import empty_folder_hint

        log.warning(empty_folder_hint(config.models_dir))
    app = create_app(ctx, api=args.api, webui=not args.nowebui, api_auth=args.api_auth)
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    log.info("Atelier on http://%s:%d%s", host, args.port, " (API at /sdapi/v1)" if args.api else "")
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    ctx.close()
    return 0
