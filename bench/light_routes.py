#!/usr/bin/env python
"""Issue #12 item 6 as numbers: a real server under a queue of generation requests.

Measured against a ``launch.py --nowebui`` process over a tiny random-weight SD1 checkpoint:

* ``GET /sdapi/v1/progress`` and ``POST /sdapi/v1/interrupt``-free lists (``/options``) answer
  time while ``--queued`` txt2img requests wait (each holds a connection);
* seconds from SIGTERM to process exit while a job of 100 batches runs;
* seconds to refuse a 1 MB prompt and a 4096² txt2img.

Run from the repository root (``--repo`` may point at another checkout, e.g. an older commit's
worktree, to compare)::

    .venv/bin/python bench/light_routes.py --queued 60
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FAST = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 20, "sampler_name": "Euler", "seed": 1}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, body: Optional[dict] = None, timeout: float = 600) -> tuple[int, float]:
    """(status, seconds) of one request; a refused connection counts as status 0."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"content-type": "application/json"} if data else {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def start(repo: Path, models: Path, data: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (data.parent / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "launch.py", "--skip-install", "--api", "--nowebui", "--port",
                                str(port), "--data-dir", str(data), "--models-dir", str(models), "--threads", "1"],
                               cwd=repo, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(720):
        if call(base, "GET", "/sdapi/v1/sd-models", timeout=2)[0] == 200:
            return process, base
        if process.poll() is not None:
            break
        time.sleep(0.25)
    process.kill()
    raise SystemExit("server did not start:\n" + (data.parent / "server.log").read_text(errors="replace")[-3000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=60)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--stop-wait", type=float, default=120, help="seconds to wait for exit after SIGTERM")
    args = parser.parse_args()
    from tests.factory import build_checkpoint

    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        root = Path(tmp)
        build_checkpoint(root / "models", "sd1", "tiny-sd1", seed=0)
        process, base = start(args.repo, root / "models", root / "data")
        results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, "
                                              f"{subprocess.getoutput('nproc')} cores, Python {platform.python_version()}",
                                   "queued": args.queued}
        call(base, "POST", "/sdapi/v1/txt2img", FAST)  # load the model
        started = time.perf_counter()
        waiters = [threading.Thread(target=call, args=(base, "POST", "/sdapi/v1/txt2img", {**FAST, "seed": i}))
                   for i in range(args.queued)]
        for thread in waiters:
            thread.start()
        time.sleep(2.0)  # let the requests connect and queue
        progress = [call(base, "GET", "/sdapi/v1/progress")[1] for _ in range(args.samples)]
        options = [call(base, "GET", "/sdapi/v1/options")[1] for _ in range(args.samples)]
        results["progress_s_median"] = round(statistics.median(progress), 3)
        results["progress_s_max"] = round(max(progress), 3)
        results["options_s_median"] = round(statistics.median(options), 3)
        for thread in waiters:
            thread.join()
        results["queue_drained_s"] = round(time.perf_counter() - started, 1)
        results["prompt_1mb"] = call(base, "POST", "/sdapi/v1/txt2img", {**FAST, "prompt": "a" * 1_000_000},
                                     timeout=30)
        results["txt2img_4096"] = call(base, "POST", "/sdapi/v1/txt2img", {**FAST, "width": 4096, "height": 4096},
                                       timeout=20)
        long_job = threading.Thread(target=call, args=(base, "POST", "/sdapi/v1/txt2img",
                                                       {**FAST, "steps": 100, "n_iter": 100}))
        long_job.start()
        time.sleep(3.0)
        signalled = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(args.stop_wait)
            results["sigterm_to_exit_s"] = round(time.perf_counter() - signalled, 2)
        except subprocess.TimeoutExpired:
            results["sigterm_to_exit_s"] = f"> {args.stop_wait:g} (killed)"
            process.kill()
            process.wait()
        long_job.join(10)
    print(json.dumps(results, indent=1))  # (status, seconds); status 0: no answer within the call's timeout


if __name__ == "__main__":
    main()
