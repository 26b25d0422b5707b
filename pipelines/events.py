"""Named callbacks the engine fires (app started, model loaded, image saved, job step).

Extensions and built-in features subscribe here instead of patching engine code. A failing
callback is logged with its owner and never breaks the generation that fired it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional

log = logging.getLogger(__name__)

EventName = Literal["app_started", "model_loaded", "image_saved", "job_step"]
EVENTS: tuple[EventName, ...] = ("app_started", "model_loaded", "image_saved", "job_step")


@dataclass(frozen=True)
class AppStarted:
    """The server is up (UI built, routes mounted)."""

    version: str


@dataclass(frozen=True)
class ModelLoaded:
    """A checkpoint became the active one (loaded or taken from the cache)."""

    title: str
    architecture: str


@dataclass(frozen=True)
class ImageSaved:
    """An image file was written under the outputs folder."""

    path: Path
    kind: str
    infotext: Optional[str]


@dataclass(frozen=True)
class JobStep:
    """A queued job reported progress (A1111's per-step callback): called on the job's own
    thread, so a subscriber that blocks holds the job at this step."""

    job_id: str
    kind: str
    step: int
    total_steps: int
    batch: int
    batch_count: int


@dataclass(frozen=True)
class _Subscriber:
    fn: Callable[..., Any]
    owner: str


class EventHub:
    """Subscribers per event name, called in subscription order."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[_Subscriber]] = {name: [] for name in EVENTS}
        self._lock = threading.Lock()

    def subscribe(self, event: EventName, fn: Callable[..., Any], owner: str = "") -> Callable[[], None]:
        """Call ``fn(payload)`` on every ``event``; returns a function that unsubscribes."""
        if event not in self._subscribers:
            raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
        subscriber = _Subscriber(fn, owner or getattr(fn, "__module__", ""))
        with self._lock:
            self._subscribers[event].append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers[event]:
                    self._subscribers[event].remove(subscriber)

        return unsubscribe

    def emit(self, event: EventName, payload: Any) -> None:
        """Call every subscriber; an exception is logged against its owner and swallowed."""
        with self._lock:
            subscribers = list(self._subscribers[event])
        for subscriber in subscribers:
            try:
                subscriber.fn(payload)
            except Exception:  # noqa: BLE001 - one broken extension must not stop the engine
                log.exception("%s callback of %s failed", event, subscriber.owner or "?")
