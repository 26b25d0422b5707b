"""Faceset extract: find the faces of every frame, align each to its face type, save it with its metadata.

Detection and landmarks come from the Faces engine (insightface when a pack is installed, else
the built-in dlib models). Alignment wants DeepFaceLab's 68 landmarks: a backend with other
landmarks (insightface's 106) gets them from the built-in shape predictor on the same box.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

import numpy as np
from PIL import Image

from pipelines.dfl.aligned import make_meta, save_aligned
from pipelines.dfl.facetype import FaceType, check_face_type, crop_matrix, hull_polygon, transform_points, warp_to_crop
from pipelines.dfl.frames import frame_files
from pipelines.dfl.workspace import Side, Workspace, WorkspaceError, disk_space
from pipelines.faces.errors import FaceError
from pipelines.faces.types import DetectedFace
from pipelines.jobs import JobControl, JobInterrupted

if TYPE_CHECKING:
    from pipelines.faces.engine import FaceEngine

Which = Literal["largest", "all"]


@dataclass(frozen=True)
class ExtractReport:
    side: Side
    frames: int
    faces: int
    frames_without_face: int

    def describe(self) -> str:
        return (f"{self.side}: {self.faces} faces from {self.frames} frames"
                f" ({self.frames_without_face} without a face)")


def face_landmarks(engine: "FaceEngine", rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """68 landmarks when any model gives them, else the detector's five points."""
    if face.landmarks is not None and len(face.landmarks) == 68:
        return np.asarray(face.landmarks, np.float32)
    try:
        return engine.builtin.landmarks68(rgb, face.box)
    except FaceError:
        return np.asarray(face.kps5, np.float32)


def align_face(rgb: np.ndarray, landmarks: np.ndarray, face_type: FaceType, size: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(crop, matrix frame→crop, landmarks in the crop, hull polygon in the crop)."""
    matrix = crop_matrix(landmarks, face_type, size)
    local = transform_points(matrix, landmarks)
    return warp_to_crop(rgb, matrix, size), matrix, local, hull_polygon(local)


def extract_faceset(ws: Workspace, side: Side, engine: "FaceEngine", face_type: str = "full", size: int = 256,
                    which: Which = "largest", min_score: float = 0.5,
                    control: Optional[JobControl] = None) -> ExtractReport:
    """Replace ``data_<side>/aligned/`` with the aligned faces of every frame."""
    face_type = check_face_type(face_type)
    if not 32 <= size <= 1024:
        raise WorkspaceError(f"aligned face size {size}: use 32 to 1024 pixels")
    control = control or JobControl()
    files = frame_files(ws, side)
    folder = ws.aligned_dir(side)
    if folder.exists():
        shutil.rmtree(folder)
    ws.faceset_file(side).unlink(missing_ok=True)
    folder.mkdir(parents=True)
    control.start(len(files), textinfo=f"faceset {side}")
    found = empty = 0
    for n, path in enumerate(files):
        if control.interrupted.is_set():
            raise JobInterrupted(f"faceset extract cancelled at frame {n}")
        rgb = np.asarray(Image.open(path).convert("RGB"))
        faces = engine.detect(rgb, order="size", min_score=min_score, embed=False)
        chosen = faces[:1] if which == "largest" else faces
        empty += not chosen
        for i, face in enumerate(chosen):
            landmarks = face_landmarks(engine, rgb, face)
            crop, matrix, local, hull = align_face(rgb, landmarks, face_type, size)
            meta = make_meta(face_type, size, path.name, (rgb.shape[1], rgb.shape[0]), i, matrix, local, landmarks,
                             hull, face.box, face.detector)
            with disk_space(f"the {side} faceset in {folder}"):
                save_aligned(folder / f"{path.stem}_{i}.png", crop, meta)
            found += 1
        control.step(n + 1)
    if not found:
        raise WorkspaceError(f"no faces found in any of the {len(files)} {side} frames: use a video where a face "
                             "is clearly visible (frontal, not too small), or lower the detection score")
    return ExtractReport(side, len(files), found, empty)
