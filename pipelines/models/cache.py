"""One least-recently-used cache, with a byte budget, for every kind of loaded model.

Checkpoints, VAEs and (later) ONNX sessions all count against the same budget, so switching
back to a recent model is a cache hit instead of a disk read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Optional


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


@dataclass
class _Entry:
    value: Any
    nbytes: int
    on_evict: Optional[Callable[[Any], None]] = None


@dataclass
class ModelCache:
    """LRU by bytes. ``pinned`` keys (the models in use) are never evicted."""

    budget_bytes: int
    stats: CacheStats = field(default_factory=CacheStats)
    _entries: "OrderedDict[Hashable, _Entry]" = field(default_factory=OrderedDict)
    _pinned: set = field(default_factory=set)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def get(self, key: Hashable) -> Any:
        """The cached value (now most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.value

    def put(self, key: Hashable, value: Any, nbytes: int, on_evict: Optional[Callable[[Any], None]] = None) -> None:
        """Store ``value``; older unpinned entries are evicted until the budget holds."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = _Entry(value, nbytes, on_evict)
            self._shrink(keep=key)

    def pin(self, key: Hashable) -> None:
        with self._lock:
            self._pinned.add(key)

    def unpin(self, key: Hashable) -> None:
        with self._lock:
            self._pinned.discard(key)
            self._shrink()

    def pop(self, key: Hashable) -> Any:
        """Remove ``key`` without calling its eviction hook; returns the value or None."""
        with self._lock:
            self._pinned.discard(key)
            entry = self._entries.pop(key, None)
            return entry.value if entry else None

    def clear(self) -> None:
        with self._lock:
            for key in list(self._entries):
                if key not in self._pinned:
                    self._evict(key)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def _shrink(self, keep: Hashable = None) -> None:
        for key in list(self._entries):
            if self.used_bytes <= self.budget_bytes:
                return
            if key in self._pinned or key == keep:
                continue
            self._evict(key)

    def _evict(self, key: Hashable) -> None:
        entry = self._entries.pop(key)
        self.stats.evictions += 1
        if entry.on_evict:
            entry.on_evict(entry.value)
