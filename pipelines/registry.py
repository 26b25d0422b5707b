"""What selectable and always-on scripts share: a described positional argument and a
registry of scripts by title that remembers who registered each."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, Protocol, Sequence, TypeVar


@dataclass(frozen=True)
class ScriptArg:
    """One positional argument, described as A1111's script-info describes a UI control.

    The UI builds a control from it when the script brings no UI of its own: a slider when
    ``minimum``/``maximum`` are set, a dropdown for ``choices``, a checkbox for a bool value,
    a number or a textbox otherwise.
    """

    label: str
    value: Any = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[float] = None
    choices: Optional[Sequence[str]] = None


class Titled(Protocol):
    title: str


T = TypeVar("T", bound=Titled)


@dataclass
class _Entry(Generic[T]):
    script: T
    owner: str


class TitledRegistry(Generic[T]):
    """Scripts by case-insensitive title, in registration order; each remembers its owner."""

    kind = "script"

    def __init__(self) -> None:
        self._entries: list[_Entry[T]] = []
        self._lock = threading.Lock()

    def register(self, script: T, owner: str = "") -> Callable[[], None]:
        """Add ``script``; returns a function that removes it.

        The same named owner registering a title again replaces its earlier script (an app
        rebuilt over one context re-registers its extensions); any other duplicate title is a
        ValueError.
        """
        if not str(getattr(script, "title", "")).strip():
            raise ValueError(f"a {self.kind} needs a title")
        key = script.title.casefold()
        with self._lock:
            for entry in list(self._entries):
                if entry.script.title.casefold() == key:
                    if not owner or entry.owner != owner:
                        raise ValueError(f"a {self.kind} called {script.title!r} is already registered"
                                         f"{f' by {entry.owner}' if entry.owner else ''}")
                    self._entries.remove(entry)
            entry = _Entry(script, owner)
            self._entries.append(entry)

        def unregister() -> None:
            with self._lock:
                if entry in self._entries:
                    self._entries.remove(entry)

        return unregister

    @property
    def scripts(self) -> list[T]:
        with self._lock:
            return [entry.script for entry in self._entries]

    def titles(self, kind: Optional[str] = None) -> list[str]:
        """Titles, optionally only those usable for ``kind`` ("txt2img" / "img2img")."""
        return [s.title for s in self.scripts if kind is None or getattr(s, kind, True)]

    def find(self, name: str) -> T:
        for script in self.scripts:
            if script.title.casefold() == name.strip().casefold():
                return script
        raise ValueError(f"{self.kind} {name} not found; available: {', '.join(self.titles()) or 'none'}")
