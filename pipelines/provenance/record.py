"""The provenance record: who made an image, how, when, from what, with which marks.

Stored as compact JSON in the file's metadata (see ``metadata.py``) so that any tool can read
it without Atelier; the watermarks carry only a fixed message, the record carries the facts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Optional, Union

from PIL import Image

from pipelines import __version__

TOOL = "Atelier"
SCHEMA = "atelier.provenance/1"
Source = Union[Image.Image, bytes]


def source_digest(source: Source) -> str:
    """sha256 of a source: of the file bytes when given bytes, else of the decoded RGB pixels
    (plus the size), so the same picture hashes alike however it reached the engine."""
    if isinstance(source, (bytes, bytearray)):
        return "sha256:" + hashlib.sha256(source).hexdigest()
    rgb = source.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return "sha256-rgb:" + digest.hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ProvenanceRecord:
    """One image's provenance. ``marks`` lists the invisible marks applied ("sdxl",
    "atelier"); empty with ``marks_enabled`` False when the user turned marks off."""

    operation: str
    created: str = field(default_factory=utc_now)
    sources: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()
    marks_enabled: bool = True
    tool: str = TOOL
    version: str = __version__
    schema: str = SCHEMA

    @classmethod
    def new(cls, operation: str, sources: Iterable[Source] = (), **fields: Any) -> "ProvenanceRecord":
        return cls(operation=operation, sources=tuple(source_digest(s) for s in sources), **fields)

    def to_json(self) -> str:
        data = asdict(self)
        data["sources"], data["marks"] = list(self.sources), list(self.marks)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Optional["ProvenanceRecord"]:
        """The record in ``text``, or None when it is not one of ours (never raises)."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("operation"), str):
            return None
        try:
            return cls(
                operation=data["operation"], created=str(data.get("created", "")),
                sources=tuple(str(s) for s in data.get("sources", ())), marks=tuple(str(m) for m in data.get("marks", ())),
                marks_enabled=bool(data.get("marks_enabled", True)), tool=str(data.get("tool", "")),
                version=str(data.get("version", "")),
            )
        except (TypeError, ValueError):
            return None

    def summary(self) -> str:
        marks = ", ".join(self.marks) if self.marks else ("off" if not self.marks_enabled else "none (image too small)")
        sources = f", {len(self.sources)} source image(s)" if self.sources else ""
        return f"{self.tool} {self.version}, {self.operation}, {self.created}{sources}; marks: {marks}"
