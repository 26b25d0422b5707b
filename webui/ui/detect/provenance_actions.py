"""Detect tab (provenance part) and ``/atelier/v1/detect``: what both do with an image, as plain functions.

The response has one key per kind of evidence. ``faces`` is filled by the learned deepfake
detectors (``webui/ui/detect/learned_tab.py`` owner): pass their per-face results and, if they
reach one, their own verdict line to :func:`detect_response`; nothing else changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pipelines.provenance.inspect import ProvenanceReport, inspect
from webui.imagecodec import ImageDecodeError, decode_base64, open_image

SIGNAL_COLUMNS = ["Signal", "Found", "Evidence"]


def inspect_file_bytes(raw: bytes, field: str = "image") -> ProvenanceReport:
    """Provenance of an uploaded file (its bytes, so metadata and C2PA are read as stored)."""
    return inspect(open_image(raw, field), raw)


def inspect_base64(data: str, field: str = "image") -> ProvenanceReport:
    return inspect_file_bytes(decode_base64(data, field), field)


def inspect_upload(path: Optional[str]) -> tuple[list[list[str]], str]:
    """Detect tab: the dropped file → (signals table rows, verdict in Markdown)."""
    if not path:
        raise ImageDecodeError("image: drop an image to inspect first")
    report = inspect_file_bytes(Path(path).read_bytes())
    return signal_rows(report), f"**Verdict:** {report.verdict}"


def signal_rows(report: ProvenanceReport) -> list[list[str]]:
    return [[s.name, "yes" if s.found else "no", s.evidence] for s in report.signals]


def detect_response(report: ProvenanceReport, faces: Sequence[Mapping[str, Any]] = (),
                    face_verdict: Optional[str] = None) -> dict[str, Any]:
    """``{provenance, faces, verdict}``: the provenance verdict, then the face detectors' one."""
    verdict = report.verdict if not face_verdict else f"{report.verdict}. Faces: {face_verdict}"
    return {"provenance": report.to_dict(), "faces": [dict(f) for f in faces], "verdict": verdict}
