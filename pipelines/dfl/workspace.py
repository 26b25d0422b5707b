"""A named DeepFaceLab workspace under the data dir: ``data_src/``, ``data_dst/``, their ``aligned/``
facesets, ``merged/`` frames and the merged video.

DeepFaceLab's layout, so its users find their way: frames of each side live in ``data_<side>/``,
aligned faces in ``data_<side>/aligned/``, the merged frames in ``data_dst/merged/`` (here:
``merged/``). The source videos are copied in (``data_<side>.<ext>``) so the destination's fps and
audio are still there when the merged video is written.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from pipelines.fileio import atomic_write_text

Side = Literal["src", "dst"]
SIDES: tuple[Side, ...] = ("src", "dst")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")
WORKSPACES_FOLDER = "dfl"


class WorkspaceError(ValueError):
    """A workspace step cannot run (bad name, missing frames, …); the message says what to do."""


@contextmanager
def disk_space(what: str) -> Iterator[None]:
    """A full disk says so, naming what was being written and that the earlier files are intact."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise WorkspaceError(f"out of disk space while writing {what}: free some space and run the step again "
                             "(what was saved before is kept)") from exc


def check_name(name: str, what: str = "workspace") -> str:
    """A plain folder name (letters, digits, ``._ -``), never a path."""
    name = (name or "").strip()
    if not _NAME.match(name) or ".." in name:
        raise WorkspaceError(f"{what} name {name!r}: use letters, digits, '.', '_', '-' or spaces (at most 64), "
                             "not a path")
    return name


def check_side(side: str) -> Side:
    if side not in SIDES:
        raise WorkspaceError(f"side {side!r}: use 'src' (the face you want) or 'dst' (the video it goes into)")
    return side  # type: ignore[return-value]


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace; creating the object touches nothing on disk."""

    root: Path

    @classmethod
    def named(cls, data_dir: Path, name: str) -> "Workspace":
        return cls(Path(data_dir) / WORKSPACES_FOLDER / check_name(name))

    @property
    def name(self) -> str:
        return self.root.name

    def frames_dir(self, side: Side) -> Path:
        return self.root / f"data_{check_side(side)}"

    def aligned_dir(self, side: Side) -> Path:
        return self.frames_dir(side) / "aligned"

    def trash_dir(self, side: Side) -> Path:
        """Faces a sort's "best subset" left out (moved, never deleted)."""
        return self.frames_dir(side) / "aligned_trash"

    def faceset_file(self, side: Side) -> Path:
        return self.frames_dir(side) / "faceset.safetensors"

    def frames_meta(self, side: Side) -> Path:
        return self.frames_dir(side) / "frames.json"

    @property
    def merged_dir(self) -> Path:
        return self.root / "merged"

    @property
    def result_video(self) -> Path:
        return self.root / "result.mp4"

    def create(self) -> "Workspace":
        for side in SIDES:
            self.aligned_dir(side).mkdir(parents=True, exist_ok=True)
        self.merged_dir.mkdir(parents=True, exist_ok=True)
        return self

    def clear(self, confirm: bool) -> None:
        """DeepFaceLab's "clear workspace": everything goes, so only with ``confirm``."""
        if not confirm:
            raise WorkspaceError(f"clearing workspace {self.name!r} deletes its frames, facesets and merged "
                                 "results: confirm to go on")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.create()

    def read_frames_meta(self, side: Side) -> dict[str, Any]:
        path = self.frames_meta(side)
        if not path.is_file():
            raise WorkspaceError(f"workspace {self.name!r} has no {side} frames yet: extract frames first")
        return json.loads(path.read_text())

    def write_frames_meta(self, side: Side, meta: dict[str, Any]) -> None:
        atomic_write_text(self.frames_meta(side), json.dumps(meta, indent=1))

    def summary(self) -> dict[str, Any]:
        """Counts per side (frames, aligned faces, packed), for the UI and ``faceset info``."""
        out: dict[str, Any] = {"name": self.name, "path": str(self.root)}
        for side in SIDES:
            frames = self.frames_meta(side)
            out[side] = {
                "frames": len(json.loads(frames.read_text())["frames"]) if frames.is_file() else 0,
                "aligned": len(list(self.aligned_dir(side).glob("*.png"))) if self.aligned_dir(side).is_dir() else 0,
                "packed": self.faceset_file(side).is_file(),
            }
        out["merged"] = len(list(self.merged_dir.glob("*.png"))) if self.merged_dir.is_dir() else 0
        out["result"] = str(self.result_video) if self.result_video.is_file() else None
        return out


def workspace_names(data_dir: Path) -> list[str]:
    folder = Path(data_dir) / WORKSPACES_FOLDER
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
