"""Holds the next job that reaches a chosen step, on the job's own thread, until released.

Driven through ``ext.on_job_step`` (the ``job_step`` event): a test arms the gate, starts a
job, waits until the job is held at step N, acts (reads progress, clicks Interrupt / Skip,
starts a second job) and releases it. No sleep and no time window decides the outcome.
A test may arm the gate for a second job while the first is still held; ``release`` lets
the one held most recently go on.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

HOLD_S = 120.0  # a held job goes on by itself after this, so a failing test never hangs the server


class Gate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: Optional[tuple[int, Optional[str]]] = None
        self._held: Optional[dict[str, Any]] = None
        self._reached = threading.Event()
        self._go = threading.Event()

    def arm(self, step: int, not_job: Optional[str] = None) -> None:
        """Hold the next job (other than ``not_job``) that reports a step >= ``step``."""
        with self._lock:
            self._armed, self._held = (step, not_job), None
            self._reached.clear()

    def on_step(self, event: Any) -> None:
        """The ``job_step`` subscriber: blocks the job when the armed step is reached."""
        with self._lock:
            armed = self._armed
            if armed is None or event.step < armed[0] or event.job_id == armed[1]:
                return
            self._armed = None
            self._held = {"job": event.job_id, "kind": event.kind, "step": event.step, "batch": event.batch}
            self._go = go = threading.Event()
            self._reached.set()
        go.wait(HOLD_S)

    def wait(self, timeout: float) -> Optional[dict[str, Any]]:
        """The held job (id, kind, step, batch), or None when none was held within ``timeout``."""
        return self._held if self._reached.wait(timeout) else None

    def release(self) -> None:
        with self._lock:
            self._go.set()
