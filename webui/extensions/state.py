"""Which extensions the user disabled, persisted in ``<data-dir>/extensions.json``.

Changes apply on the next start, as in A1111: an extension's tabs and routes are built once.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Optional

from pipelines.fileio import atomic_write_text, read_json_object, set_aside


class ExtensionState:
    """The set of disabled extension names, saved on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.problem: Optional[str] = None  # a damaged file, moved aside (for the start-up notice)
        self._disabled = self._load()

    def _load(self) -> set[str]:
        data, self.problem = read_json_object(self.path)
        names = data.get("disabled", [])
        if not isinstance(names, list):
            self.problem = set_aside(self.path, f'"disabled" is a {type(names).__name__}, not a list of names')
            return set()
        return {str(name) for name in names}

    def is_enabled(self, name: str) -> bool:
        return name not in self._disabled

    def set_enabled(self, name: str, enabled: bool) -> None:
        with self._lock:
            (self._disabled.discard if enabled else self._disabled.add)(name)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({"disabled": sorted(self._disabled)}, indent=2))
