"""Stamping an output: invisible marks in the pixels, the record alongside (in ``image.info``).

The record rides in ``image.info[RECORD_KEY]`` the way Pillow exposes a PNG text chunk after
reading a file, so whatever encodes the image later (``pipelines.outputs.encode_image``: saved
files and API responses alike) writes it into the file without being handed it separately.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Optional

from PIL import Image

from pipelines.provenance.metadata import RECORD_KEY
from pipelines.provenance.record import ProvenanceRecord, Source
from pipelines.provenance.watermarks import apply_marks

MARKS_OFF_NOTE = "Provenance marks: off"


@dataclass(frozen=True)
class Stamped:
    """An output image ready to write: marked pixels, its record, its infotext."""

    image: Image.Image
    record: ProvenanceRecord
    infotext: Optional[str]
    sources: tuple[Source, ...] = ()
    """What it was made from (the C2PA manifest's ingredients)."""


def _mark(image: Image.Image, record: ProvenanceRecord, sdxl: bool) -> tuple[Image.Image, ProvenanceRecord]:
    marked, applied = apply_marks(image, sdxl=sdxl) if record.marks_enabled else (image.copy(), ())
    record = replace(record, marks=applied)
    marked.info[RECORD_KEY] = record.to_json()
    return marked, record


def mark_image(image: Image.Image, record: ProvenanceRecord, sdxl: bool = False) -> Image.Image:
    """``image`` with the invisible marks (unless ``record.marks_enabled`` is False) and the
    record attached, its ``marks`` set to those applied; for callers that write frames
    themselves (video: one record per clip, every frame marked). The SDXL-compatible mark is
    off by default here: it never survives h264 and costs ~0.26 s per 720p frame."""
    return _mark(image, record, sdxl)[0]


def with_marks_note(infotext: Optional[str], record: ProvenanceRecord) -> Optional[str]:
    """The infotext with ``Provenance marks: off`` appended to its parameter line when the
    user turned marks off (A1111 parsers keep unknown keys, so it round-trips)."""
    if infotext is None or record.marks_enabled or MARKS_OFF_NOTE in infotext:
        return infotext
    return f"{infotext}, {MARKS_OFF_NOTE}" if infotext.strip() else MARKS_OFF_NOTE


def stamp(image: Image.Image, operation: str, *, infotext: Optional[str] = None,
          sources: Iterable[Source] = (), marks: bool = True, sdxl: bool = True) -> Stamped:
    """Mark ``image`` (when ``marks``; the SDXL-compatible mark too when ``sdxl``) and build
    its record; the one step every output takes."""
    sources = tuple(sources)
    marked, record = _mark(image, ProvenanceRecord.new(operation, sources, marks_enabled=marks), sdxl)
    return Stamped(marked, record, with_marks_note(infotext, record), sources)
