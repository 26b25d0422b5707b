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
    from webui.middleware.origin_guard import OriginPolicy

log = logging.getLogger("atelier")


def create_app(ctx: "AtelierContext", *, api: bool = True, webui: bool = True,
               api_auth: Optional[Sequence[tuple[str, str]]] = None,
               extensions: Optional["ExtensionHost"] = None, origins: Optional["OriginPolicy"] = None) -> FastAPI:
    """The ASGI app: ``/sdapi/v1`` when ``api``, the Gradio UI at ``/`` when ``webui``, and the
    tabs and ``/ext/<name>/`` routes of the loaded ``extensions``. ``api_auth`` (user, password)
    pairs are the users of one login in front of everything (UI, Gradio API, docs, REST,
    extensions' routes); ``origins`` says which other web origins may call it (none by default)."""
    from webui.api.register import register_api
    from webui.middleware.origin_guard import OriginPolicy

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ctx.events.emit("app_started", AppStarted(version=_version()))
        yield

    app = FastAPI(title="Atelier", version=_version(), docs_url="/docs", lifespan=lifespan)
    app.state.ctx = ctx
    from webui.middleware.body_limit import BodySizeLimit

    app.add_middleware(BodySizeLimit, limits=lambda content_type: _body_limit(ctx, content_type))
    from webui.api.extensions import extensions_router

    if extensions is None:
        extensions = builtin_extensions(ctx)
    routers = [extensions_router(extensions)] if api else []
    routers += extensions.routers if extensions else []
    register_api(app, ctx, mount_sdapi=api, api_auth=api_auth, extra_routers=routers)
    if webui:
        import gradio as gr

        from webui.served_paths import confine_gradio_files
        from webui.ui.app import CSS, HEAD, build_ui

        blocks = build_ui(ctx, extensions, logout=bool(api_auth))
        app = gr.mount_gradio_app(app, blocks, path="/", css=CSS, head=HEAD, show_error=True)
        confine_gradio_files(blocks, ctx)
    _install_security(app, tuple(api_auth or ()), origins or OriginPolicy())
    return app


def _body_limit(ctx: "AtelierContext", content_type: str) -> int:
    """Bytes one request body may hold: ``limit_request_body_mb``; multipart uploads (files,
    videos) up to the larger ``faces_video_max_mb``, which the video routes enforce themselves."""
    limit = ctx.engine.limits.request_body_bytes
    if content_type.lower().startswith("multipart/form-data"):
        limit = max(limit, int(ctx.settings.faces_video_max_mb * 1024 * 1024))
    return limit


def _install_security(app: FastAPI, credentials: Sequence[tuple[str, str]], origins: "OriginPolicy") -> None:
    """Innermost first: the login gate (when there are users), then the origin checks and CORS."""
    from webui.middleware.auth_gate import AuthGate
    from webui.middleware.origin_guard import install_origin_checks

    if credentials:
        app.add_middleware(AuthGate, credentials=credentials)
    install_origin_checks(app, origins)


def _version() -> str:
    from pipelines import __version__

    return __version__


def load_extensions(ctx: "AtelierContext", args: argparse.Namespace) -> "ExtensionHost":
    """Discover and load the built-in extensions and those of ``--extensions-dir`` (broken ones
    are reported, not fatal)."""
    from webui.extensions.host import ExtensionHost

    host = ExtensionHost(args.extensions_dir.resolve(), extension_state(ctx),
                         ctx, disable_all=args.disable_all_extensions,
                         allow_install=not args.listen or args.enable_insecure_extension_access,
                         allow_local_sources=args.enable_insecure_extension_access)
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


LISTEN_REFUSED = (
    "--listen without authentication refused: anyone who can reach this machine's port could generate, change "
    "settings, read your outputs and install extensions. Add users (--gradio-auth-path FILE or the ATELIER_AUTH "
    "environment variable, user:password), or pass --listen-without-auth if you really mean it.")
LISTEN_OPEN = (
    "\n" + "!" * 78 + "\n!! Listening on 0.0.0.0 WITHOUT AUTHENTICATION (--listen-without-auth): anyone on the "
    "network can\n!! use this server, change its settings and read its outputs.\n" + "!" * 78)
PROTECTED = "UI /, /gradio_api/*, /docs, /openapi.json, /sdapi/v1, /atelier/v1, /ext/*"


def _security_options(args: argparse.Namespace) -> tuple[tuple[tuple[str, str], ...], "OriginPolicy"]:
    """(users, origin policy) from the flags and ATELIER_AUTH; ValueError says what is wrong."""
    import re

    from webui.credentials import resolve
    from webui.middleware.origin_guard import LOOPBACK_HOSTS, OriginPolicy, parse_origins

    credentials, warnings = resolve(args, os.environ)
    for warning in warnings:
        log.warning(warning)
    if args.cors_allow_origins_regex:
        try:
            re.compile(args.cors_allow_origins_regex)
        except re.error as exc:
            raise ValueError(f"--cors-allow-origins-regex: not a regular expression ({exc})") from None
    policy = OriginPolicy(parse_origins(args.cors_allow_origins), args.cors_allow_origins_regex or None,
                          None if args.listen else LOOPBACK_HOSTS)
    return credentials, policy


def serve(args: argparse.Namespace) -> int:
    """Start the context and serve until terminated (exit 2 on a refused security setup)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        credentials, origins = _security_options(args)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    if args.listen and not credentials:
        if not args.listen_without_auth:
            log.error(LISTEN_REFUSED)
            return 2
        log.warning(LISTEN_OPEN)
    import uvicorn

    from pipelines.context import AppConfig, AtelierContext
    from webui.cli import public_flags
    from webui.served_paths import gradio_temp_dir

    os.environ["GRADIO_TEMP_DIR"] = str(gradio_temp_dir(args.data_dir.resolve()))
    config = AppConfig(
        data_dir=args.data_dir.resolve(),
        models_dir=args.models_dir.resolve(),
        device=args.device,
        precision=args.precision,
        cpu_threads=args.threads,
        hash_in_background=not args.no_hashing_at_start,
        cmd_flags=public_flags(args),
        allowed_paths=tuple(p.expanduser().resolve() for p in args.gradio_allowed_path),
    )
    ctx = AtelierContext(config)
    if not ctx.catalog.usable_checkpoints():
        from pipelines.models.catalog import empty_folder_hint

        log.warning(empty_folder_hint(config.models_dir))
    app = create_app(ctx, api=args.api, webui=not args.nowebui, api_auth=credentials or None,
                     extensions=load_extensions(ctx, args), origins=origins)
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    if credentials:
        log.info("Authentication on for %d user(s) on every route: %s (login page for browsers, HTTP Basic "
                 "for API clients)", len(credentials), PROTECTED)
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
