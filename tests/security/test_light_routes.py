"""Issue #12 item 6: light routes never wait behind generation.

The attack: queue more txt2img requests than the server has worker threads. When each waiting
request held a thread, ``GET /progress`` (43 s with 60 queued) and ``POST /interrupt`` waited
for a free one. Here the queue is held by a real generation paused at its first step, more
requests than the thread pool's size wait behind it, and the light routes must still answer.
No timing is measured: on the old code the light requests never answer while the job is
paused, and ``asyncio.wait_for`` turns that hang into a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import anyio.to_thread
import httpx
import pytest

from pipelines.context import AtelierContext
from pipelines.diffusion.request import Txt2ImgRequest
from pipelines.jobs import JobControl
from webui.server import create_app

THREADS = 3  # the worker thread pool's size for this test (the default is 40: same mechanism)
WAITING = THREADS + 3
HANG_GUARD_S = 120  # only to fail instead of hanging on the old code; never a speed threshold
BODY = {"prompt": "a fox", "width": 64, "height": 64, "steps": 2, "sampler_name": "Euler", "seed": 1}


def _paused_generation(ctx: AtelierContext, gate: threading.Event, paused: threading.Event) -> Any:
    """A real txt2img job that stops at its first step until ``gate`` opens."""

    def at_step(progress: Any) -> None:
        if progress.step >= 1 and not gate.is_set():
            paused.set()
            gate.wait(HANG_GUARD_S)

    def run(control: JobControl) -> Any:
        control.listeners.append(at_step)
        request = Txt2ImgRequest(prompt="held", checkpoint="tiny-sd1", width=64, height=64, steps=4, seed=3,
                                 sampler_name="Euler", save_images=False)
        return ctx.engine.generate(request, control)

    return ctx.queue.submit("txt2img", run)


async def _until(condition: Any, what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), HANG_GUARD_S)
    except asyncio.TimeoutError:
        pytest.fail(f"never happened: {what}")


def test_progress_interrupt_and_lists_answer_while_more_requests_than_threads_wait(ctx: AtelierContext) -> None:
    app = create_app(ctx, api=True, webui=False)
    gate, paused = threading.Event(), threading.Event()

    async def scenario() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://atelier", timeout=None) as client:
            held = _paused_generation(ctx, gate, paused)
            await _until(paused.is_set, "the held generation reached its first step")
            queued = [asyncio.create_task(client.post("/sdapi/v1/txt2img", json={**BODY, "seed": i}))
                      for i in range(WAITING)]
            await _until(lambda: ctx.queue.waiting == WAITING,
                         f"{WAITING} txt2img requests queued behind the held job ({THREADS} worker threads)")

            async def light(method: str, route: str) -> httpx.Response:
                try:
                    return await asyncio.wait_for(client.request(method, route), HANG_GUARD_S)
                except asyncio.TimeoutError:
                    pytest.fail(f"{method} {route} waited behind generation")

            progress = await light("GET", "/sdapi/v1/progress")
            assert progress.status_code == 200, progress.text
            state = progress.json()["state"]
            assert state["job"] == "txt2img" and state["sampling_step"] == 1 and state["sampling_steps"] == 4
            for route in ("/sdapi/v1/options", "/sdapi/v1/sd-models", "/sdapi/v1/samplers", "/sdapi/v1/loras",
                          "/atelier/v1/status"):
                response = await light("GET", route)
                assert response.status_code == 200, (route, response.text)
            assert (await light("POST", "/sdapi/v1/skip")).status_code == 200
            assert (await light("POST", "/sdapi/v1/interrupt")).status_code == 200
            assert held.control.interrupted.is_set()  # /interrupt reached the running job
            gate.set()
            responses = await asyncio.wait_for(asyncio.gather(*queued), HANG_GUARD_S)
            assert [r.status_code for r in responses] == [200] * WAITING
            assert all(len(r.json()["images"]) == 1 for r in responses)
            held.wait(HANG_GUARD_S)

    try:
        # a fresh thread for the loop: the browser tests' session-wide Playwright (sync API)
        # keeps an event loop running in the main thread, where asyncio.run refuses to start
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, scenario()).result()
    finally:
        gate.set()
