"""Build the FastAPI app (API routes + Gradio UI) around one application context and serve it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import threading
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional, Sequence

from fastapi import FastAPI

from pipelines.events import AppStarted

if TYPE_CHECKING:
    from pipelines.context import AtelierContext
    from webui.extensions.host import ExtensionHost
    from webui.extensions.state import ExtensionState

log = logging.getLogger("atelier")


def create_app(ctx: "AtelierContext", *, api: bool = True, webui: bool = True,
               api_auth: Optional[Sequence[tuple[str, str]]] = None,
               extensions: Optional["ExtensionHost"] = None) -> FastAPI:
    """The ASGI app: ``/sdapi/v1`` when ``api``, the Gradio UI at ``/`` when ``webui``, and the
    tabs and ``/ext/<name>/`` routes of the loaded ``extensions``; ``api_auth`` (user, password)
    pairs put HTTP Basic on every API route, extensions' routes included."""
    from webui.api_register import register_api

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ctx.events.emit("app_started", AppStarted(version=_version()))
        yield

    app = FastAPI(title="Atelier", version=_version(), docs_url="/docs", lifespan=lifespan)
    app.state.ctx = ctx
    from webui.body_limit import BodySizeLimit

    app.add_middleware(BodySizeLimit, limits=lambda content_type: _body_limit(ctx, content_type))
    from webui.api_extensions import extensions_router

    if extensions is None:
        extensions = builtin_extensions(ctx)
    routers = [extensions_router(extensions)] if api else []
    routers += extensions.routers if extensions else []
    register_api(app, ctx, mount_sdapi=api, api_auth=api_auth, extra_routers=routers)
    if webui:
        import gradio as gr

        from webui.ui import CSS, HEAD, build_ui

        from webui.served_paths import confine_gradio_files

        blocks = build_ui(ctx, extensions)
        app = gr.mount_gradio_app(app, blocks, path="/", css=CSS, head=HEAD, show_error=True)
        confine_gradio_files(blocks, ctx)
    return app


def _body_limit(ctx: "AtelierContext", content_type: str) -> int:
    """Bytes one request body may hold: ``limit_request_body_mb``; multipart uploads (files,
    videos) up to the larger ``faces_video_max_mb``, which the video routes enforce themselves."""
    limit = ctx.engine.limits.request_body_bytes
    if content_type.lower().startswith("multipart/form-data"):
        limit = max(limit, int(ctx.settings.faces_video_max_mb * 1024 * 1024))
    return limit


def _version() -> str:
    from pipelines import __version__

    return __version__


def load_extensions(ctx: "AtelierContext", args: argparse.Namespace) -> "ExtensionHost":
    """Discover and load the built-in extensions and those of ``--extensions-dir`` (broken ones
    are reported, not fatal)."""
    from webui.extensions.host import ExtensionHost

    host = ExtensionHost(args.extensions_dir.resolve(), extension_state(ctx),
                         ctx, disable_all=args.disable_all_extensions,
                         allow_install=not args.listen or args.enable_insecure_extension_access)
    host.load()
    return host


def builtin_extensions(ctx: "AtelierContext") -> "ExtensionHost":
    """Only the extensions that ship with Atelier (an app built without a user extensions folder)."""
    from webui.extensions.host import ExtensionHost

    host = ExtensionHost(None, extension_state(ctx), ctx)
    host.load()
    return host


def extension_state(ctx: "AtelierContext") -> "ExtensionState":
    """``<data-dir>/extensions.json``; a damaged one (moved aside) joins the start-up notices."""
    from webui.extensions.state import ExtensionState

    state = ExtensionState(ctx.config.data_dir / "extensions.json")
    if state.problem and state.problem not in ctx.notices:
        ctx.notices.append(state.problem)
    return state


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
    app = create_app(ctx, api=args.api, webui=not args.nowebui, api_auth=args.api_auth,
                     extensions=load_extensions(ctx, args))
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    log.info("Atelier on http://%s:%d%s", host, args.port, " (API at /sdapi/v1)" if args.api else "")
    config = uvicorn.Config(app, host=host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    _server_class(uvicorn)(config, ctx).run()
    ctx.close()
    return 0


SHUTDOWN_GRACE_S = 10  # open connections (a browser's event stream) get this long, then are closed
JOB_STOP_WAIT_S = 30  # the running job, aborted, normally ends within a layer; it may take this long


def _server_class(uvicorn: Any) -> type:
    """uvicorn's server that, on SIGTERM / Ctrl+C, stops the jobs first: the running one at
    its next layer (images already finished stay saved), queued ones cancelled, so the
    requests waiting for them answer and the shutdown takes seconds, not the queue's length."""

    class AtelierServer(uvicorn.Server):  # type: ignore[misc, name-defined]
        def __init__(self, config: Any, ctx: "AtelierContext") -> None:
            super().__init__(config)
            self.ctx = ctx

        def handle_exit(self, sig: int, frame: Any) -> None:
            # a signal handler must not take the queue's lock (the interrupted code may hold it)
            threading.Thread(target=self.ctx.queue.abort_all, name="atelier-shutdown", daemon=True).start()
            log.info("shutting down: stopping the running job and cancelling queued ones")
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets)
            # the worker ends the job it runs (atomic writes: no half-written file) before we exit
            await asyncio.to_thread(self.ctx.queue.shutdown, JOB_STOP_WAIT_S)

    return AtelierServer
