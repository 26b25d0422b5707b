"""Which extensions the user disabled, persisted in ``<data-dir>/extensions.json``.

Changes apply on the next start, as in A1111: an extension's tabs and routes are built once.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from pipelines.fileio import atomic_write_text


class ExtensionState:
    """The set of disabled extension names, saved on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._disabled = self._load()

    def _load(self) -> set[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        names = data.get("disabled", []) if isinstance(data, dict) else []
        return {str(name) for name in names}

    def is_enabled(self, name: str) -> bool:
        return name not in self._disabled

    def set_enabled(self, name: str, enabled: bool) -> None:
        with self._lock:
            (self._disabled.discard if enabled else self._disabled.add)(name)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({"disabled": sorted(self._disabled)}, indent=2))
