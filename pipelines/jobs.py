"""One job queue that serialises accelerator work for the UI, the API and scripts.

Each job carries its own progress and its own interrupt / skip flags, so a user can stop only
the job they own. The engine reports progress through :class:`JobControl`.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobInterrupted(Exception):
    """Raised inside a job when its owner interrupts it before any result exists."""


@dataclass
class Progress:
    """What a progress bar needs: where the job is and how long it will take."""

    step: int = 0
    total_steps: int = 0
    batch: int = 0
    batch_count: int = 1
    textinfo: str = ""
    started_at: Optional[float] = None
    preview: Any = None

    @property
    def fraction(self) -> float:
        if not self.total_steps:
            return 0.0
        done = self.batch * self.total_steps + self.step
        return min(1.0, done / (self.total_steps * max(self.batch_count, 1)))

    @property
    def eta_seconds(self) -> Optional[float]:
        if self.started_at is None or self.fraction <= 0:
            return None
        elapsed = time.monotonic() - self.started_at
        return elapsed / self.fraction - elapsed


@dataclass
class JobControl:
    """Handed to engine code: report progress, check for interrupt / skip."""

    progress: Progress = field(default_factory=Progress)
    interrupted: threading.Event = field(default_factory=threading.Event)
    skipped: threading.Event = field(default_factory=threading.Event)
    preview_every: int = 0
    listeners: list[Callable[[Progress], None]] = field(default_factory=list)
    interrupts: int = 0
    """How many times :meth:`interrupt` was called: long model calls stop at a *new* one."""
    aborted: threading.Event = field(default_factory=threading.Event)
    """Set on shutdown: stop everything now, even a partial image's decode."""

    def interrupt(self) -> None:
        """Stop the job (the user's Interrupt): sampling ends at the next step, a decode or
        upscale in progress at its next layer."""
        self.interrupts += 1
        self.interrupted.set()

    def abort(self) -> None:
        """Stop at once, whatever runs (server shutdown)."""
        self.aborted.set()
        self.interrupt()

    def start(self, total_steps: int, batch_count: int = 1, textinfo: str = "") -> None:
        p = self.progress
        p.total_steps, p.batch_count, p.step, p.batch, p.textinfo = total_steps, batch_count, 0, 0, textinfo
        if p.started_at is None:
            p.started_at = time.monotonic()
        self._notify()

    def step(self, step: int, batch: Optional[int] = None, preview: Any = None) -> None:
        self.progress.step = step
        if batch is not None:
            self.progress.batch = batch
        if preview is not None:
            self.progress.preview = preview
        self._notify()

    def wants_preview(self, step: int) -> bool:
        return self.preview_every > 0 and step % self.preview_every == 0

    def should_stop(self) -> bool:
        """True when the current batch should end early (interrupt or skip)."""
        return self.interrupted.is_set() or self.skipped.is_set()

    def _notify(self) -> None:
        for listener in self.listeners:
            listener(self.progress)


@dataclass
class Job:
    id: str
    kind: str
    owner: Optional[str]
    fn: Callable[[JobControl], Any]
    control: JobControl = field(default_factory=JobControl)
    state: JobState = JobState.QUEUED
    result: Any = None
    error: Optional[BaseException] = None
    created_at: float = field(default_factory=time.time)
    done: threading.Event = field(default_factory=threading.Event)
    _callbacks: list[Callable[["Job"], None]] = field(default_factory=list, repr=False)

    def add_done_callback(self, fn: Callable[["Job"], None]) -> None:
        """Call ``fn(job)`` once the job has ended (at once if it has): how an async caller
        waits without holding a thread. ``fn`` runs on the queue's worker thread and may, in a
        race with the end, be called twice: it must be cheap and idempotent."""
        self._callbacks.append(fn)
        if self.done.is_set():
            fn(self)

    def finish(self) -> None:
        """Mark the job ended and tell the waiters (the queue's worker calls this)."""
        self.done.set()
        for fn in list(self._callbacks):
            try:
                fn(self)
            except Exception:  # a waiter that went away must not stop the queue
                log.exception("done callback of job %s failed", self.id)

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Block until the job ends; return its result or raise its error."""
        if not self.done.wait(timeout):
            raise TimeoutError(f"job {self.id} still {self.state.value} after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.result


class JobQueue:
    """FIFO of jobs run one at a time on a worker thread."""

    def __init__(self, on_step: Optional[Callable[[Job], None]] = None) -> None:
        """``on_step(job)`` runs on every progress report of every job (the context fires the
        ``job_step`` event from it)."""
        self._on_step = on_step
        self._queue: "queue.Queue[Optional[Job]]" = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._order = itertools.count()
        self._pending: list[Job] = []
        self._current: Optional[Job] = None
        self._closing = False
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="atelier-jobs", daemon=True)
        self._worker.start()

    def submit(self, kind: str, fn: Callable[[JobControl], Any], owner: Optional[str] = None) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, owner=owner, fn=fn)
        if self._closing:
            job.control.abort()  # the server is shutting down: cancelled before it starts
        if self._on_step is not None:
            on_step = self._on_step
            job.control.listeners.append(lambda progress: on_step(job))
        with self._lock:
            self._jobs[job.id] = job
            self._pending.append(job)
            self._prune()
        self._queue.put(job)
        return job

    def run(self, kind: str, fn: Callable[[JobControl], Any], owner: Optional[str] = None,
            timeout: Optional[float] = None) -> Any:
        """Submit and wait: the common path for a blocking API route."""
        return self.submit(kind, fn, owner).wait(timeout)

    def get(self, job_id: str) -> Optional[Job]:
        with self._lock:
            return self._jobs.get(job_id)

    @property
    def current(self) -> Optional[Job]:
        return self._current

    @property
    def waiting(self) -> int:
        """How many jobs are queued behind the running one."""
        with self._lock:
            return len(self._pending)

    def position(self, job: Job) -> int:
        """0 when running, n when n jobs are ahead of it, -1 when finished."""
        with self._lock:
            if job is self._current:
                return 0
            if job in self._pending:
                return self._pending.index(job) + (1 if self._current else 0)
        return -1

    def interrupt(self, job_id: Optional[str] = None, owner: Optional[str] = None) -> bool:
        """Interrupt jobs: one by id, else all unfinished jobs of ``owner``, else the running one.

        With both, the job must belong to ``owner``: nobody stops another user's job.
        """
        return self._signal("interrupted", job_id, owner)

    def skip(self, job_id: Optional[str] = None, owner: Optional[str] = None) -> bool:
        """Skip the current batch of the targeted jobs (same targeting as :meth:`interrupt`)."""
        return self._signal("skipped", job_id, owner)

    def _targets(self, job_id: Optional[str], owner: Optional[str]) -> list[Job]:
        with self._lock:
            if job_id is not None:
                job = self._jobs.get(job_id)
                jobs = [job] if job is not None and (owner is None or job.owner == owner) else []
            elif owner is not None:
                jobs = [j for j in self._jobs.values() if j.owner == owner]
            else:
                jobs = [self._current] if self._current is not None else []
        return [j for j in jobs if not j.done.is_set()]

    def _signal(self, flag: str, job_id: Optional[str], owner: Optional[str]) -> bool:
        targets = self._targets(job_id, owner)
        for job in targets:
            if flag == "interrupted":
                job.control.interrupt()
            else:
                getattr(job.control, flag).set()
        return bool(targets)

    def abort_all(self) -> None:
        """Shutdown: the running job stops at once (its finished images are already saved),
        queued jobs are cancelled, and nothing new starts."""
        with self._lock:
            self._closing = True
            jobs = [j for j in self._jobs.values() if not j.done.is_set()]
        for job in jobs:
            job.control.abort()

    def shutdown(self, wait: float = 0.0) -> None:
        """Stop the worker after the jobs it holds; with ``wait``, abort them and give the
        running one up to ``wait`` seconds to end cleanly (so no file is left half-written)."""
        if wait:
            self.abort_all()
        self._queue.put(None)
        if wait and self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(wait)

    def _prune(self, keep: int = 200) -> None:
        finished = [j for j in self._jobs.values() if j.done.is_set()]
        for job in finished[: max(0, len(finished) - keep)]:
            self._jobs.pop(job.id, None)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._pending.remove(job)
                self._current = job
            if job.control.interrupted.is_set():
                job.state, job.error = JobState.CANCELLED, JobInterrupted("cancelled before it started")
            else:
                job.state = JobState.RUNNING
                try:
                    job.result = job.fn(job.control)
                    job.state = JobState.DONE
                except BaseException as exc:  # the worker must survive any job
                    job.error = exc
                    job.state = JobState.CANCELLED if isinstance(exc, JobInterrupted) else JobState.FAILED
                    if not isinstance(exc, (JobInterrupted, ValueError, LookupError)):
                        log.exception("job %s (%s) failed", job.id, job.kind)
            with self._lock:
                self._current = None
            job.finish()
