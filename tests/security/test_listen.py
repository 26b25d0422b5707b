"""Issue #12 item 3: ``--listen`` without authentication is refused unless asked for by name
(then a loud warning); with users, the log says what they protect. Nothing here binds 0.0.0.0:
the refusal comes before the server starts, and ``uvicorn.run`` is replaced where it would."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_server import REPO_ROOT
from webui.cli import parse_args


def launch(tmp_path: Path, models: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "launch.py", "--skip-install", *flags, "--port", "9", "--data-dir",
               str(tmp_path / "data"), "--models-dir", str(models)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_listen_without_users_is_refused_before_anything_starts(tmp_path: Path, tiny_models_dir: Path) -> None:
    done = launch(tmp_path, tiny_models_dir, "--listen")
    assert done.returncode == 2, done.stderr
    assert "--listen without authentication refused" in done.stderr and "--listen-without-auth" in done.stderr
    assert "ATELIER_AUTH" in done.stderr and not (tmp_path / "data").exists()


def test_an_unreadable_users_file_is_refused_by_name(tmp_path: Path, tiny_models_dir: Path) -> None:
    missing = tmp_path / "no-such-users.txt"
    done = launch(tmp_path, tiny_models_dir, "--gradio-auth-path", str(missing))
    assert done.returncode == 2 and f"--gradio-auth-path {missing}: cannot read it" in done.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    done = launch(tmp_path, tiny_models_dir, "--gradio-auth-path", str(empty))
    assert done.returncode == 2 and "holds no user:password entry" in done.stderr


def _serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, models: Path, *flags: str) -> dict[str, Any]:
    """Run ``serve`` up to the point where uvicorn would bind; returns what it was asked to bind."""
    from webui import server

    bound: dict[str, Any] = {}

    class NotBinding:
        def __init__(self, config: Any, ctx: Any) -> None:
            bound.update(host=config.host, port=config.port)

        def run(self) -> None:
            pass

    monkeypatch.setattr(server, "_server_class", lambda uvicorn: NotBinding)
    serve = server.serve
    args = parse_args(["--nowebui", *flags, "--port", "7999", "--data-dir", str(tmp_path / "data"), "--models-dir",
                       str(models), "--no-hashing-at-start"])
    assert serve(args) == 0
    return bound


def test_listen_without_auth_when_asked_warns_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     tiny_models_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("ATELIER_AUTH", raising=False)
    with caplog.at_level(logging.INFO, logger="atelier"):
        bound = _serve(monkeypatch, tmp_path, tiny_models_dir, "--listen", "--listen-without-auth")
    assert bound["host"] == "0.0.0.0"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("WITHOUT AUTHENTICATION" in w and "!!!!" in w for w in warnings), warnings


def test_listen_with_users_says_where_they_apply(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 tiny_models_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ATELIER_AUTH", "ann:pw,bob:pw2")
    with caplog.at_level(logging.INFO, logger="atelier"):
        bound = _serve(monkeypatch, tmp_path, tiny_models_dir, "--listen")
    assert bound["host"] == "0.0.0.0"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "Authentication on for 2 user(s) on every route: UI /, /gradio_api/*, /docs" in messages
    assert "WITHOUT AUTHENTICATION" not in messages and "pw2" not in messages
