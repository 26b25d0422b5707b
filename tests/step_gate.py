"""Hold a job at step N instead of racing its progress (see tests/gate_extension/step_gate/).

In-process tests subscribe a :class:`Gate` to ``ctx.events`` (``"job_step"``); tests of a real
server start it with ``--extensions-dir`` :data:`EXTENSIONS_DIR` and drive the same gate with
:class:`RemoteGate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from tests.gate_extension.step_gate.gate import Gate

EXTENSIONS_DIR = Path(__file__).resolve().parent / "gate_extension"
WAIT_S = 50.0  # below Server.request's 60 s timeout

__all__ = ["EXTENSIONS_DIR", "Gate", "RemoteGate", "WAIT_S"]


class RemoteGate:
    """The step_gate extension of a running server; ``call(method, path, body)`` returns the
    decoded JSON of a 200 answer (e.g. ``tests.test_server.Server.json``)."""

    def __init__(self, call: Callable[[str, str, Optional[dict]], Any]) -> None:
        self.call = call

    def arm(self, step: int, not_job: Optional[str] = None) -> None:
        self.call("POST", "/ext/step_gate/arm", {"step": step, "not_job": not_job})

    def wait(self) -> dict[str, Any]:
        """The held job: ``{"job", "kind", "step", "batch"}`` (fails after WAIT_S)."""
        return self.call("GET", f"/ext/step_gate/wait?timeout={WAIT_S:g}", None)

    def release(self) -> None:
        self.call("POST", "/ext/step_gate/release", None)
