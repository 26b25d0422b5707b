"""Awaiting queued jobs from async routes.

A sync route that waits for the queue holds one of the server's worker threads for as long as
the queue takes; enough waiting requests take them all, and then even ``/progress`` and
``/interrupt`` wait behind generation. Async routes await the job's end instead: a waiting
request costs no thread at all.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

from pipelines.jobs import Job, JobControl, JobQueue


async def wait_for(job: Job) -> Any:
    """The job's result (or its error raised), awaited on the running event loop."""
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()

    def wake(_: Job) -> None:
        try:
            loop.call_soon_threadsafe(ended.set)
        except RuntimeError:  # the loop closed (server shutting down): nobody is waiting
            pass

    job.add_done_callback(wake)
    await ended.wait()
    return job.wait(0)


async def run_queued(queue: JobQueue, kind: str, fn: Callable[[JobControl], Any],
                     owner: Optional[str] = None) -> Any:
    """Submit ``fn`` as a job and await its result (``JobQueue.run`` for async routes)."""
    return await wait_for(queue.submit(kind, fn, owner))
