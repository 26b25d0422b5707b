"""Where the provenance record lives inside a file, per format (what Pillow writes and reads).

* PNG: an iTXt chunk ``atelier-provenance`` (the JSON record) and the standard XMP chunk
  ``XML:com.adobe.xmp``.
* JPEG and WebP: an XMP packet (APP1 / XMP chunk); the EXIF UserComment stays the infotext's.

The XMP also carries IPTC's ``DigitalSourceType`` (trainedAlgorithmicMedia, or
compositeWithTrainedAlgorithmicMedia when there were source images): the field photo tools
and platforms read to label AI-generated images. XMP is read back with a regular
expression, never an XML parser, as files are untrusted.
"""

from __future__ import annotations

import html
import re
from typing import Mapping, Optional

from PIL import Image

from pipelines.provenance.record import ProvenanceRecord

RECORD_KEY = "atelier-provenance"
PNG_XMP_KEY = "XML:com.adobe.xmp"
ATELIER_NS = "https://atelier.invalid/ns/provenance/1.0/"
_IPTC_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
_RECORD_IN_XMP = re.compile(r'atelier:Provenance="([^"]*)"')
_SOURCE_TYPE_IN_XMP = re.compile(r'DigitalSourceType="([^"]*)"')


def xmp_packet(record: ProvenanceRecord) -> str:
    source_type = "compositeWithTrainedAlgorithmicMedia" if record.sources else "trainedAlgorithmicMedia"
    attr = html.escape  # quotes included: the JSON goes into an attribute
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:atelier="{ATELIER_NS}"'
        f' xmp:CreatorTool="{attr(record.tool + " " + record.version)}"'
        f' xmp:CreateDate="{attr(record.created)}"'
        f' Iptc4xmpExt:DigitalSourceType="{_IPTC_SOURCE}{source_type}"'
        f' atelier:Provenance="{attr(record.to_json())}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
    )


def png_chunks(record: ProvenanceRecord) -> Mapping[str, str]:
    """iTXt chunks (key → text) that carry ``record`` in a PNG."""
    return {RECORD_KEY: record.to_json(), PNG_XMP_KEY: xmp_packet(record)}


def _xmp_text(image: Image.Image) -> Optional[str]:
    raw = image.info.get("xmp", image.info.get(PNG_XMP_KEY))
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw if isinstance(raw, str) else None


def read_record(image: Image.Image) -> Optional[ProvenanceRecord]:
    """The Atelier record stored in ``image``'s metadata (PNG chunk first, then XMP)."""
    text = image.info.get(RECORD_KEY)
    if isinstance(text, str):
        record = ProvenanceRecord.from_json(text)
        if record is not None:
            return record
    xmp = _xmp_text(image)
    match = _RECORD_IN_XMP.search(xmp) if xmp else None
    return ProvenanceRecord.from_json(html.unescape(match.group(1))) if match else None


def read_source_type(image: Image.Image) -> Optional[str]:
    """IPTC DigitalSourceType in the image's XMP (written by Atelier or any other tool)."""
    xmp = _xmp_text(image)
    match = _SOURCE_TYPE_IN_XMP.search(xmp) if xmp else None
    return match.group(1).rsplit("/", 1)[-1] if match else None
