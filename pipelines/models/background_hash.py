"""sha256 of model files on one background thread, so a scan or a page never waits for it.

Hashing a 7 GB checkpoint takes tens of seconds; the Models tab shows "hashing…" and reads the
value from the :class:`HashCache` once this worker has stored it. The thread runs only while
there is work and exits when the queue is empty.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, Optional

from pipelines.models.hashing import HashCache

log = logging.getLogger(__name__)

OnHashed = Callable[[str], None]


class BackgroundHasher:
    """A queue of files to hash into ``cache``; a file queued twice is hashed once."""

    def __init__(self, cache: HashCache) -> None:
        self.cache = cache
        self._queue: "OrderedDict[Path, list[OnHashed]]" = OrderedDict()
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: Optional[threading.Thread] = None
        self._done: dict[Path, threading.Event] = {}  # files someone waits for (hash_first)

    @property
    def pending(self) -> int:
        """Files queued or being hashed (a file leaves the queue once its hash is stored)."""
        with self._lock:
            return len(self._queue)

    def submit(self, path: Path, then: Optional[OnHashed] = None) -> None:
        """Hash ``path`` unless the cache already knows it; ``then(sha256)`` runs after hashing."""
        known = self.cache.cached(path)
        if known:
            if then:
                then(known)
            return
        with self._lock:
            self._queue.setdefault(path, []).extend([then] if then else [])
            self._start_locked()

    def hash_first(self, path: Path) -> str:
        """``path``'s sha256 before any other queued file (the checkpoint being loaded): it goes
        to the front of the queue and this waits for it, so it shares the disk with at most
        the one file already being hashed, and is never hashed twice."""
        known = self.cache.cached(path)
        if known:
            return known
        with self._lock:
            done = self._done.setdefault(path, threading.Event())
            self._queue.setdefault(path, [])
            self._queue.move_to_end(path, last=False)
            self._start_locked()
        done.wait()
        return self.cache.cached(path) or self.cache.sha256(path)  # unreadable in the worker: raise here

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._idle.clear()
            self._thread = threading.Thread(target=self._drain, name="atelier-hash", daemon=True)
            self._thread.start()

    def submit_all(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self.submit(path)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """True once every queued file is hashed (tests and shutdown)."""
        return self._idle.wait(timeout)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._idle.set()
                    return
                path, callbacks = next(iter(self._queue.items()))
            try:
                value = self.cache.sha256(path)
            except OSError as exc:  # a file deleted or unreadable meanwhile: skip it
                log.warning("cannot hash %s: %s", path, exc)
                value = None
            with self._lock:
                callbacks = self._queue.pop(path, callbacks)
                done = self._done.pop(path, None)
            if done is not None:
                done.set()
            for callback in callbacks if value else []:
                callback(value)
