"""Provenance of Atelier's outputs: what is written into every image, and reading it back.

- ``record``: the provenance record (tool, version, operation, UTC time, source hashes, marks).
- ``metadata``: where the record lives in PNG / JPEG / WebP files.
- ``watermarks``: the invisible marks (SDXL-compatible and Atelier's own), embed and read.
- ``stamp``: marking an output (``stamp``, ``mark_image``), used by ``pipelines.outputs``.
- ``c2pa_reader``: C2PA manifests, when ``c2pa-python`` is installed.
- ``inspect``: every signal in an image and a verdict (``inspect_image``).
"""
