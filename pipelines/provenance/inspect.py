"""Reading every provenance signal in an image back, each with its evidence, and a verdict.

A verdict only ever reports what was found. Absence of every signal proves nothing (marks can
be stripped, metadata removed), so it is never reported as "real".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

from PIL import Image

from pipelines.diffusion.infotext import parse_infotext
from pipelines.imagefile import open_image_bytes
from pipelines.outputs import read_infotext
from pipelines.provenance.c2pa_reader import C2paResult, read_c2pa
from pipelines.provenance.metadata import read_record, read_source_type
from pipelines.provenance.record import ProvenanceRecord
from pipelines.provenance.watermarks import MarkReading, read_atelier, read_sdxl

NOTHING_FOUND = "No provenance signal found (this does not show that the image is authentic)"
_AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
# An infotext counts only when its parameters line has the keys every A1111-style generator
# writes: a camera's or phone's EXIF UserComment ("Shot on ...", "Sunset at the beach, ISO 100,
# f/1.8") is text too, and it must not turn a photo into "Likely AI-generated".
_GENERATION_KEYS = ("Steps", "Sampler", "Seed", "CFG scale")
_GENERATION_KEYS_NEEDED = 2


@dataclass(frozen=True)
class Signal:
    """One kind of evidence: whether it was found and what exactly was seen."""

    name: str
    found: bool
    evidence: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProvenanceReport:
    signals: tuple[Signal, ...]
    verdict: str

    def signal(self, name: str) -> Signal:
        return next(s for s in self.signals if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "signals": [asdict(s) for s in self.signals]}


def _infotext_signal(image: Image.Image) -> Signal:
    text = read_infotext(image)
    if not text or not text.strip():
        return Signal("Infotext", False, "no generation parameters in the metadata")
    params = parse_infotext(text, with_defaults=False).params
    keys = [k for k in _GENERATION_KEYS if k in params]
    if len(keys) < _GENERATION_KEYS_NEEDED or "Steps" not in keys:
        return Signal("Infotext", False, "text in the metadata, but not generation parameters "
                      f"(an A1111-style parameters line has {', '.join(_GENERATION_KEYS)})", {"text": text[:500]})
    version = params.get("Version", "")
    origin = "Atelier" if version.startswith("atelier") else "A1111-style"
    shown = ", ".join(f"{k}: {params[k]}" for k in ("Steps", "Sampler", "Model", "Version") if k in params)
    return Signal("Infotext", True, f"{origin} generation parameters ({shown or 'prompt only'})",
                  {"origin": origin, "infotext": text, "params": params})


def _record_signal(record: Optional[ProvenanceRecord]) -> Signal:
    if record is None:
        return Signal("Provenance record", False, "no Atelier provenance record in the metadata")
    return Signal("Provenance record", True, record.summary(), asdict(record))


def _source_type_signal(image: Image.Image) -> Signal:
    kind = read_source_type(image)
    if kind is None:
        return Signal("IPTC source type", False, "no DigitalSourceType in XMP")
    return Signal("IPTC source type", True, f"XMP DigitalSourceType: {kind}", {"digital_source_type": kind})


def _c2pa_signal(data: Optional[bytes], image: Image.Image) -> tuple[Signal, Optional[C2paResult]]:
    if data is None:
        return Signal("C2PA", False, "not checked: needs the file's bytes, not decoded pixels"), None
    mime = Image.MIME.get(image.format or "", "image/png")
    result = read_c2pa(data, mime)
    details = {"state": result.state, "generator": result.generator, "signer": result.signer,
               "validation": result.validation, "digital_source_types": list(result.source_types),
               "actions": list(result.actions), **result.details}
    return Signal("C2PA", result.state == "found", result.evidence, details), result


def _mark_signal(name: str, reading: MarkReading) -> Signal:
    details = {"confidence": round(reading.confidence, 12)}
    if reading.z is not None or reading.version == 2:
        details.update(version=2, correlation_z=None if reading.z is None else round(reading.z, 2))
    else:
        details.update(bits_matched=reading.matched, bits_total=reading.total)
        if reading.version:
            details["version"] = reading.version
    return Signal(name, reading.found, reading.detail, details)


def _verdict(record: Optional[ProvenanceRecord], signals: dict[str, Signal], c2pa: Optional[C2paResult]) -> str:
    atelier_mark = signals["Atelier watermark"].found
    if atelier_mark or (record is not None and record.tool == "Atelier"):
        how = " and ".join(x for x, ok in (("invisible mark", atelier_mark), ("provenance record", record is not None)) if ok)
        operation = f" ({record.operation})" if record else ""
        return f"Made by Atelier{operation}: {how} found"
    if c2pa is not None and c2pa.state == "found":
        label = "AI-generated per its C2PA manifest" if c2pa.ai_generated else "Has a C2PA manifest"
        return f"{label} ({c2pa.generator or 'unknown generator'}; validation {c2pa.validation})"
    if signals["SDXL watermark"].found:
        return "AI-generated (SDXL invisible watermark: " + signals["SDXL watermark"].evidence + ")"
    if signals["IPTC source type"].found and signals["IPTC source type"].details["digital_source_type"] in _AI_SOURCE_TYPES:
        return "AI-generated per its XMP metadata (IPTC DigitalSourceType)"
    if signals["Infotext"].found:
        return f"Likely AI-generated: {signals['Infotext'].evidence} (metadata can be added or removed by anyone)"
    return NOTHING_FOUND


def inspect(source: Union[Image.Image, bytes], data: Optional[bytes] = None) -> ProvenanceReport:
    """Every provenance signal in ``source`` (a decoded image, or a file's bytes). Pass the
    file's bytes as ``data`` with a decoded image so C2PA, which lives in the file, is read."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        source = open_image_bytes(data)
    record = read_record(source)
    c2pa_signal, c2pa = _c2pa_signal(data, source)
    signals = [
        _infotext_signal(source),
        _record_signal(record),
        c2pa_signal,
        _source_type_signal(source),
        _mark_signal("SDXL watermark", read_sdxl(source)),
        _mark_signal("Atelier watermark", read_atelier(source)),
    ]
    by_name = {s.name: s for s in signals}
    return ProvenanceReport(tuple(signals), _verdict(record, by_name, c2pa))
