"""Pack a faceset into one safetensors file: every face, its hull mask and eyes/mouth mask as uint8
arrays, the face type and file names in the header. Training loads it in one read (memory-mapped),
instead of decoding thousands of PNGs; no pickle anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines.dfl.aligned import aligned_files, read_aligned
from pipelines.dfl.workspace import Side, Workspace, WorkspaceError
from pipelines.fileio import atomic_open

HEADER_KEY = "atelier-dfl-faceset"


@dataclass
class Faceset:
    images: np.ndarray
    """(N, S, S, 3) uint8 RGB."""
    masks: np.ndarray
    """(N, S, S) uint8 hull masks (0/255)."""
    parts: np.ndarray
    """(N, S, S) uint8 eyes and mouth (0/255; all zero when the faces have no 68 landmarks)."""
    face_type: str
    size: int
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)


def read_folder(folder: Path, progress: Callable[[int, int], None] = lambda done, total: None,
                label: str = "the") -> Faceset:
    """Every aligned face of ``folder``; all must share one face type and size."""
    files = aligned_files(folder)
    if not files:
        raise WorkspaceError(f"{label} faceset is empty ({folder}): extract faces first")
    images, masks, parts, kinds = [], [], [], set()
    for n, path in enumerate(files):
        rgb, meta = read_aligned(path)
        kinds.add((meta.face_type, meta.size))
        if len(kinds) > 1:
            raise WorkspaceError(f"{folder}: the faceset mixes face types or sizes {sorted(kinds)}: extract it again")
        images.append(rgb)
        masks.append((meta.mask() * 255).astype(np.uint8))
        eyes_mouth = meta.parts()
        parts.append((eyes_mouth * 255).astype(np.uint8) if eyes_mouth is not None else np.zeros_like(masks[-1]))
        progress(n + 1, len(files))
    face_type, size = kinds.pop()
    return Faceset(np.stack(images), np.stack(masks), np.stack(parts), face_type, size, [p.name for p in files])


def pack_faceset(ws: Workspace, side: Side, progress: Callable[[int, int], None] = lambda d, t: None) -> Path:
    """Write ``data_<side>/faceset.safetensors`` from the aligned folder."""
    from safetensors.numpy import save

    faceset = read_folder(ws.aligned_dir(side), progress, f"the {side}")
    header = {"face_type": faceset.face_type, "size": faceset.size, "names": faceset.names}
    data = save({"images": faceset.images, "masks": faceset.masks, "parts": faceset.parts},
                metadata={HEADER_KEY: json.dumps(header)})
    path = ws.faceset_file(side)
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return path


def load_packed(path: Path) -> Faceset:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        header = json.loads((handle.metadata() or {}).get(HEADER_KEY, "{}"))
        if not header:
            raise WorkspaceError(f"{path.name}: not a packed faceset")
        arrays = {key: handle.get_tensor(key) for key in ("images", "masks", "parts")}
    return Faceset(arrays["images"], arrays["masks"], arrays["parts"], header["face_type"], int(header["size"]),
                   list(header["names"]))


def load_faceset(ws: Workspace, side: Side) -> Faceset:
    """The packed file when present (sorting or deleting removes it), else the aligned folder."""
    path = ws.faceset_file(side)
    return load_packed(path) if path.is_file() else read_folder(ws.aligned_dir(side), label=f"the {side}")

