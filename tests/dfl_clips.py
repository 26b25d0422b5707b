"""Short clips of real people for the DeepFaceLab workflow tests and bench: a face photo from an
installed wheel, animated with a slow pan, zoom and small rotations (what a hand-held clip does),
written with PyAV (h264, a sine audio track)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.faces_data import astronaut, insightface_photo
from tests.video_factory import write_video

# Face centre and a square side around it, in the photo's pixels (measured with dlib's detector).
_FRAMING = {"astronaut": ((220, 125), 230), "hopper": ((265, 245), 330), "hanks": ((56, 56), 112)}


def grace_hopper() -> Image.Image:
    """matplotlib's sample photo of Grace Hopper (one face), 512x600."""
    import matplotlib

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


def photo(identity: str) -> np.ndarray:
    image = {"astronaut": astronaut, "hopper": grace_hopper,
             "hanks": lambda: insightface_photo("Tom_Hanks_54745.png")}[identity]()
    return np.asarray(image)


def clip_frame(identity: str, i: int, frames: int, size: int) -> np.ndarray:
    """Frame ``i`` of ``frames``: the face framed in a ``size`` square, panned, zoomed and turned a little."""
    rgb = photo(identity)
    (cx, cy), side = _FRAMING[identity]
    t = i / max(frames - 1, 1)
    angle = 8.0 * math.sin(2 * math.pi * t)
    zoom = size / side * (1.0 + 0.12 * math.sin(math.pi * t))
    shift = np.array([0.06 * side * math.cos(2 * math.pi * t), 0.04 * side * math.sin(2 * math.pi * t)])
    matrix = cv2.getRotationMatrix2D((cx + shift[0], cy + shift[1]), angle, zoom)
    matrix[:, 2] += np.array([size / 2, size / 2]) - np.array([cx + shift[0], cy + shift[1]])
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def write_clip(path: Path, identity: str, frames: int = 8, size: int = 160, fps: int = 12,
               audio: bool = True) -> Path:
    return write_video(path, frames=frames, fps=fps, size=(size, size),
                       make_frame=lambda i: clip_frame(identity, i, frames, size),
                       audio_codec="aac" if audio else None)


TINY_MODEL = {"resolution": 32, "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4, "batch_size": 2}
"""A model small enough to train a few iterations in a test on one CPU thread."""


def prepared_workspace(root: Path, engine: object, frames: int = 10, dst_size: int = 256, aligned: int = 64):
    """A workspace with src (astronaut) and dst (Grace Hopper) frames and facesets extracted."""
    from pipelines.dfl.extract import extract_faceset
    from pipelines.dfl.frames import extract_frames
    from pipelines.dfl.workspace import Workspace

    ws = Workspace.named(root / "data", "clips").create()
    extract_frames(ws, "src", write_clip(root / "src.mp4", "astronaut", frames=frames, size=160))
    extract_frames(ws, "dst", write_clip(root / "dst.mp4", "hopper", frames=frames, size=dst_size))
    for side in ("src", "dst"):
        extract_faceset(ws, side, engine, "full", aligned)
    return ws
