"""The step gate over HTTP, for tests that drive a real server process (``--extensions-dir``).

``POST /ext/step_gate/arm {"step": N, "not_job": id}``, ``GET /ext/step_gate/wait?timeout=S``
(the held job, 408 when none was held in time), ``POST /ext/step_gate/release``.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import HTTPException
from pydantic import BaseModel

from webui.extensions import Extension

from .gate import Gate


class Arm(BaseModel):
    step: int
    not_job: Optional[str] = None


def setup(ext: Extension) -> None:
    gate = Gate()
    ext.on_job_step(gate.on_step)

    @ext.router.post("/arm")
    def arm(body: Arm) -> None:
        gate.arm(body.step, body.not_job)

    @ext.router.get("/wait")
    def wait(timeout: float = 60.0) -> dict[str, Any]:
        held = gate.wait(timeout)
        if held is None:
            raise HTTPException(408, f"no job reached the armed step within {timeout:g}s")
        return held

    @ext.router.post("/release")
    def release() -> None:
        gate.release()
