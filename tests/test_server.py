"""A real server started the way scripts start it (``launch.py --skip-install --api …``),
talked to over plain HTTP: start-up, txt2img, saved outputs, the mounted UI, clean shutdown."""

from __future__ import annotations

import base64
import io
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from PIL import Image

pytestmark = pytest.mark.e2e  # real launch.py server processes

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 180.0  # a hang guard: start-up took 75 s at load average 14 on the 2-core box
STOP_TIMEOUT = 15.0
# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal, so -SIGTERM is clean too
CLEAN_EXIT = (0, -signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running ``launch.py`` process and how to reach it."""

    process: subprocess.Popen
    base_url: str
    log: Path
    data_dir: Path
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (e.g. credentials)

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60,
                headers: Optional[dict[str, str]] = None) -> tuple[int, str, bytes]:
        """(status, content type, body bytes); HTTP errors are returned, not raised.
        ``headers`` replace the server's default ones for this request."""
        data = json.dumps(body).encode() if body is not None else None
        sent = dict(self.headers if headers is None else headers)
        if data:
            sent["content-type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.headers.get("content-type", ""), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("content-type", ""), exc.read()

    def json(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        status, _, payload = self.request(method, path, body)
        assert status == 200, f"{method} {path}: {status} {payload[:500]!r}\n{self.log_tail()}"
        return json.loads(payload)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def wait_ready(self) -> None:
        """Poll ``GET /sdapi/v1/sd-models`` (README: it answers once the server is ready)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited with {self.process.returncode}\n{self.log_tail()}"
            try:
                if self.request("GET", "/sdapi/v1/sd-models", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"server not ready after {START_TIMEOUT}s\n{self.log_tail()}")

    def stop(self) -> Optional[int]:
        """SIGTERM and wait; kill only if it does not stop in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
                return None
        return self.process.returncode


@contextmanager
def running_server(tmp_path: Path, models_dir: Path, *flags: str,
                   headers: Optional[dict[str, str]] = None) -> Iterator[Server]:
    """Start ``launch.py`` from the repo root; always stop it, and check it stopped cleanly.
    ``headers`` go with every request (credentials when ``flags`` hold ``--api-auth``)."""
    log = tmp_path / "server.log"
    port = free_port()
    command = [sys.executable, "launch.py", "--skip-install", "--api", *flags, "--port", str(port),
               "--data-dir", str(tmp_path / "data"), "--models-dir", str(models_dir), "--threads", "1"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log, tmp_path / "data", dict(headers or {}))
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
    assert code in CLEAN_EXIT, f"server did not exit cleanly on SIGTERM (code {code})\n{server.log_tail()}"


def txt2img(server: Server, **fields: Any) -> tuple[Image.Image, dict]:
    body = server.json("POST", "/sdapi/v1/txt2img", {"prompt": "a lighthouse", "seed": 3, "steps": 3, "width": 64,
                                                     "height": 64, "sampler_name": "Euler", **fields})
    image = Image.open(io.BytesIO(base64.b64decode(body["images"][0])))
    image.load()
    return image, json.loads(body["info"])


def test_api_only_server_generates_and_saves(tmp_path: Path, tiny_models_dir: Path) -> None:
    with running_server(tmp_path, tiny_models_dir, "--nowebui") as server:
        assert server.json("GET", "/sdapi/v1/sd-models")
        image, info = txt2img(server, save_images=True)
        assert image.info["parameters"] == info["infotexts"][0]
        saved = sorted((tmp_path / "data" / "outputs" / "txt2img-images").glob("*/*.png"))
        assert [p.parent.name for p in saved] == [date.today().isoformat()]
        assert Image.open(saved[0]).info["parameters"] == info["infotexts"][0]
        status, _, _ = server.request("GET", "/")
        assert status == 404  # no UI with --nowebui


def test_full_ui_server_serves_html_and_the_api(tmp_path: Path, tiny_models_dir: Path) -> None:
    with running_server(tmp_path, tiny_models_dir) as server:
        status, content_type, page = server.request("GET", "/")
        assert status == 200 and content_type.startswith("text/html") and b"<html" in page.lower()
        _, info = txt2img(server)
        assert info["all_seeds"] == [3]
        assert server.json("GET", "/atelier/v1/status")["ready"] is True
