"""Face models loaded once and kept in the shared model cache (they count in the one RAM budget)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from pipelines.models.cache import ModelCache

T = TypeVar("T")


@dataclass
class LoadedFaceModels:
    """Get-or-load by file: the cache key is the file and its modification time."""

    cache: ModelCache
    providers: list[str]

    def get(self, kind: str, path: Path, load: Callable[[Path], T]) -> T:
        stat = path.stat()
        key = ("faces", kind, str(path.resolve()), stat.st_mtime_ns)
        value: Any = self.cache.get(key)
        if value is None:
            value = load(path)
            self.cache.put(key, value, stat.st_size)
        return value
