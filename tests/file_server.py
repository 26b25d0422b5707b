"""A local HTTP file server for download tests: Range requests, Content-Disposition names, and a
switch that drops the connection part-way through the next response (as a flaky network does)."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, Optional


@dataclass
class ServedFile:
    data: bytes
    disposition: Optional[str] = None  # Content-Disposition header value


@dataclass
class FileServerState:
    files: dict[str, ServedFile] = field(default_factory=dict)
    drop_after: Optional[int] = None  # the next response stops after this many body bytes
    delay_per_chunk: float = 0.0  # seconds between 64 KiB chunks (to test cancel)
    ranges: list[Optional[str]] = field(default_factory=list)  # Range header of each request


class _Handler(BaseHTTPRequestHandler):
    state: FileServerState

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        state = self.server.state  # type: ignore[attr-defined]
        served = state.files.get(self.path.split("?")[0])
        state.ranges.append(self.headers.get("Range"))
        if served is None:
            self.send_error(404, "no such file")
            return
        data, start = served.data, 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if served.disposition:
            self.send_header("Content-Disposition", served.disposition)
        self.end_headers()
        limit, state.drop_after = state.drop_after, None
        if limit is not None:
            body = body[:limit]
            self.close_connection = True
        for offset in range(0, len(body), 1 << 16):
            self.wfile.write(body[offset:offset + (1 << 16)])
            if state.delay_per_chunk:
                time.sleep(state.delay_per_chunk)


@contextmanager
def file_server() -> Iterator[tuple[str, FileServerState]]:
    """(base URL, state) of a server on a free localhost port, stopped afterwards."""
    state = FileServerState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.state = state  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
