"""Provenance of Atelier's outputs: what is written into every image, and reading it back.

- ``record``: the provenance record (tool, version, operation, UTC time, source hashes, marks).
- ``metadata``: where the record lives in PNG / JPEG / WebP files.
- ``watermarks``: the invisible marks (SDXL-compatible and Atelier's own), embed and read.
- ``tiled_mark``: Atelier's mark (version 2): a keyed tile read with a scale and offset search.
- ``stamp``: marking an output (``stamp``, ``mark_image``), used by ``pipelines.outputs``.
- ``c2pa_reader``: C2PA manifests, when ``c2pa-python`` is installed.
- ``c2pa_signer``: signing saved outputs with a C2PA manifest (setting ``c2pa_sign``).
- ``inspect``: every signal in an image and a verdict (``inspect_image``).
"""
