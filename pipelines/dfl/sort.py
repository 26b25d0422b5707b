"""Sort a faceset the DeepFaceLab ways that matter: sharpness, yaw, pitch, histogram similarity,
and a "best faces" subset that keeps the sharpest faces of every head pose.

Sorting renames the files ``NNNNN_<frame>_<face>.png`` in the new order (the metadata inside each
file is untouched); the best subset moves the others to ``aligned_trash/`` (never deletes).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Callable, Literal, Optional

import cv2
import numpy as np

from pipelines.dfl.aligned import AlignedMeta, aligned_files, read_aligned
from pipelines.dfl.workspace import Side, Workspace, WorkspaceError

SortMethod = Literal["blur", "yaw", "pitch", "hist", "best"]
SORT_METHODS: tuple[SortMethod, ...] = ("blur", "yaw", "pitch", "hist", "best")


def sharpness(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the Laplacian inside the face mask (higher = sharper)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    inside = mask > 0.5
    return float(lap[inside].var()) if inside.sum() > 16 else float(lap.var())


def _five(meta: AlignedMeta) -> np.ndarray:
    points = meta.landmarks_array()
    if len(points) == 68:
        return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])
    return points


def yaw_pitch(meta: AlignedMeta) -> tuple[float, float]:
    """Head turn from the landmarks: nose offset from the eyes' midline (yaw, + = turned to the
    image's right) and from the eyes–mouth midpoint (pitch, + = looking down), both in
    eye-distance units (about -1..1)."""
    left, right, nose, mouth_l, mouth_r = _five(meta)
    eyes = (left + right) / 2
    mouth = (mouth_l + mouth_r) / 2
    span = max(float(np.linalg.norm(right - left)), 1e-6)
    axis = (right - left) / span
    yaw = float(np.dot(nose - eyes, axis)) / span
    height = max(float(np.linalg.norm(mouth - eyes)), 1e-6)
    pitch = (float(np.dot(nose - eyes, (mouth - eyes) / height)) / height - 0.55) * 2
    return yaw, pitch


def _histogram(rgb: np.ndarray) -> np.ndarray:
    hist = [cv2.calcHist([rgb], [c], None, [64], [0, 256]) for c in range(3)]
    return cv2.normalize(np.concatenate(hist), None).astype(np.float32)


def _hist_chain(hists: list[np.ndarray]) -> list[int]:
    """Greedy chain: each next face is the one whose histogram is closest to the previous one."""
    left = list(range(len(hists)))
    order = [left.pop(0)] if left else []
    while left:
        last = hists[order[-1]]
        best = min(left, key=lambda j: cv2.compareHist(last, hists[j], cv2.HISTCMP_BHATTACHARYYA))
        left.remove(best)
        order.append(best)
    return order


def best_subset(sharp: list[float], poses: list[tuple[float, float]], count: int) -> list[int]:
    """``count`` faces spread over head poses: pose bins (yaw × pitch), sharpest first in each,
    taken round-robin so every pose keeps its best faces."""
    yaws = np.array([p[0] for p in poses])
    pitches = np.array([p[1] for p in poses])
    bins = max(1, int(round(np.sqrt(count))))

    def bucket(values: np.ndarray) -> np.ndarray:
        edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]) if len(values) > 1 else []
        return np.searchsorted(edges, values)

    keys = bucket(yaws) * bins + bucket(pitches)
    groups: dict[int, list[int]] = {}
    for i in sorted(range(len(sharp)), key=lambda i: -sharp[i]):
        groups.setdefault(int(keys[i]), []).append(i)
    chosen: list[int] = []
    while len(chosen) < min(count, len(sharp)):
        for members in groups.values():
            if members and len(chosen) < count:
                chosen.append(members.pop(0))
    return sorted(chosen, key=lambda i: -sharp[i])


def _rename_in_order(files: list[Path], metas: list[AlignedMeta], order: list[int]) -> list[Path]:
    """Two passes through temporary names, so no file overwrites another."""
    tag = uuid.uuid4().hex[:8]
    staged = []
    for rank, i in enumerate(order):
        tmp = files[i].with_name(f".{tag}-{rank}.png")
        files[i].rename(tmp)
        staged.append((tmp, metas[i]))
    out = []
    for rank, (tmp, meta) in enumerate(staged):
        target = tmp.with_name(f"{rank:05d}_{Path(meta.source_file).stem}_{meta.face_index}.png")
        tmp.rename(target)
        out.append(target)
    return out


def sort_faceset(ws: Workspace, side: Side, method: str, keep: Optional[int] = None,
                 progress: Callable[[int, int], None] = lambda done, total: None) -> list[Path]:
    """Sort ``data_<side>/aligned`` by ``method``; ``best`` keeps ``keep`` faces and trashes the rest."""
    if method not in SORT_METHODS:
        raise WorkspaceError(f"sort method {method!r}: use one of {', '.join(SORT_METHODS)}")
    files = aligned_files(ws.aligned_dir(side))
    if not files:
        raise WorkspaceError(f"the {side} faceset is empty: extract faces first")
    metas, sharp, hists, poses = [], [], [], []
    for n, path in enumerate(files):
        rgb, meta = read_aligned(path)
        metas.append(meta)
        sharp.append(sharpness(rgb, meta.mask()))
        poses.append(yaw_pitch(meta))
        if method == "hist":
            hists.append(_histogram(rgb))
        progress(n + 1, len(files))
    if method == "blur":
        order = sorted(range(len(files)), key=lambda i: -sharp[i])
    elif method == "yaw":
        order = sorted(range(len(files)), key=lambda i: poses[i][0])
    elif method == "pitch":
        order = sorted(range(len(files)), key=lambda i: poses[i][1])
    elif method == "hist":
        order = _hist_chain(hists)
    else:
        if keep is None or keep < 1:
            raise WorkspaceError("the best-faces subset needs how many faces to keep (keep ≥ 1)")
        order = best_subset(sharp, poses, keep)
        trash = ws.trash_dir(side)
        trash.mkdir(parents=True, exist_ok=True)
        for i in set(range(len(files))) - set(order):
            shutil.move(str(files[i]), str(trash / files[i].name))
    ws.faceset_file(side).unlink(missing_ok=True)  # the pack no longer matches
    return _rename_in_order(files, metas, order)


def delete_faces(ws: Workspace, side: Side, names: list[str]) -> int:
    """Delete aligned faces by file name (the gallery's delete); names outside the faceset are refused."""
    folder = ws.aligned_dir(side)
    deleted = 0
    for name in names:
        path = folder / Path(name).name
        if Path(name).name != name or path.suffix != ".png":
            raise WorkspaceError(f"{name!r} is not a face of the {side} faceset")
        if path.is_file():
            path.unlink()
            deleted += 1
    if deleted:
        ws.faceset_file(side).unlink(missing_ok=True)
    return deleted
