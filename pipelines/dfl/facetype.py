"""DeepFaceLab's face types and the transform from a frame to the aligned square crop.

As in DeepFaceLab: the 68 landmarks (17..67: brows, nose, eyes, mouth) are fitted to a mean face
in the unit square with a similarity transform (Umeyama), then the crop is grown around the face
centre by the face type's padding — ``half`` is the inner face, ``mid-full`` a little more,
``full`` cheeks to chin, ``whole face`` adds the forehead, ``head`` the whole head. A face with
only five points (eyes, nose, mouth corners) is fitted on those points of the same mean face.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import cv2
import numpy as np

FaceType = Literal["half", "mid-full", "full", "whole face", "head"]
FACE_TYPES: tuple[FaceType, ...] = ("half", "mid-full", "full", "whole face", "head")
# DeepFaceLab's padding per face type, and how far the centre moves towards the forehead
# (fraction of the crop side) for the types that include it.
_PADDING = {"half": 0.0, "mid-full": 0.0675, "full": 0.2109375, "whole face": 0.40, "head": 0.70}
_LIFT = {"whole face": 0.07, "head": 0.3}

# Mean face for landmarks 17..67 in the unit square (DeepFaceLab's landmarks_2D_new).
MEAN_FACE = np.array([
    [0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891],
    [0.393397, 0.0773906], [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482],
    [0.904991, 0.038915], [0.98004, 0.106454], [0.490127, 0.203352], [0.490127, 0.307009],
    [0.490127, 0.409805], [0.490127, 0.515625], [0.36688, 0.587326], [0.426036, 0.609345],
    [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326], [0.121737, 0.216423],
    [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099],
    [0.182743, 0.244077], [0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758],
    [0.858516, 0.216423], [0.79751, 0.244077], [0.719335, 0.245099], [0.254149, 0.780233],
    [0.340985, 0.745405], [0.428858, 0.727388], [0.490127, 0.742578], [0.551395, 0.727388],
    [0.639268, 0.745405], [0.726104, 0.780233], [0.642159, 0.864805], [0.556721, 0.902192],
    [0.490127, 0.909281], [0.423532, 0.902192], [0.338094, 0.864805], [0.290379, 0.784792],
    [0.428096, 0.778746], [0.490127, 0.785343], [0.552157, 0.778746], [0.689874, 0.784792],
    [0.553364, 0.824182], [0.490127, 0.831803], [0.42689, 0.824182]], np.float32)
# The same mean face's five points (eye centres, nose tip, mouth corners), insightface order.
MEAN_FACE_5 = np.stack([MEAN_FACE[19:25].mean(0), MEAN_FACE[25:31].mean(0), MEAN_FACE[13], MEAN_FACE[31],
                        MEAN_FACE[37]]).astype(np.float32)


def check_face_type(face_type: str) -> FaceType:
    if face_type not in FACE_TYPES:
        raise ValueError(f"face type {face_type!r}: use one of {', '.join(FACE_TYPES)}")
    return face_type  # type: ignore[return-value]


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity transform taking ``src`` points onto ``dst`` (Umeyama 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s ** 2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    out = np.zeros((2, 3))
    out[:, :2] = scale * rot
    out[:, 2] = mu_d - scale * rot @ mu_s
    return out


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def unit_transform(landmarks: np.ndarray) -> np.ndarray:
    """Frame → mean-face unit square, from 68 landmarks or 5 points."""
    landmarks = np.asarray(landmarks, np.float32)
    if len(landmarks) == 68:
        return umeyama(landmarks[17:], MEAN_FACE)
    if len(landmarks) == 5:
        return umeyama(landmarks, MEAN_FACE_5)
    raise ValueError(f"alignment needs 68 landmarks or 5 points, got {len(landmarks)}")


def crop_matrix(landmarks: np.ndarray, face_type: FaceType, size: int, scale: float = 1.0) -> np.ndarray:
    """The 2x3 matrix frame → ``size`` square crop of ``face_type`` (``scale`` > 1 zooms the face in)."""
    to_unit = unit_transform(landmarks)
    back = cv2.invertAffineTransform(to_unit)
    corners = _apply(back, np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]))
    centre = corners[4].copy()
    diagonal = float(np.linalg.norm(corners[0] - corners[2]))
    half_diag = diagonal * (_PADDING[face_type] * math.sqrt(2.0) + 0.5) / scale
    if face_type in _LIFT:
        up = corners[0] - corners[3]
        centre += up * _LIFT[face_type] * (1 + 2 * _PADDING[face_type])
    # The crop's corners in the frame: the unit square's diagonals, rotated with the face.
    tl_dir = (corners[0] - corners[2]) / diagonal
    bl_dir = (corners[3] - corners[1]) / max(float(np.linalg.norm(corners[3] - corners[1])), 1e-9)
    tl, br = centre + tl_dir * half_diag, centre - tl_dir * half_diag
    bl = centre + bl_dir * half_diag
    src = np.array([tl, br, bl], np.float32)
    dst = np.array([[0, 0], [size, size], [0, size]], np.float32)
    return cv2.getAffineTransform(src, dst)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return _apply(matrix, points).astype(np.float32)


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def hull_polygon(landmarks: np.ndarray) -> np.ndarray:
    """The face hull DeepFaceLab masks with: jaw and brows, brows raised towards the forehead.

    68 points: jaw (0..16) plus the brows (17..26) pushed up by a third of the brow–chin height;
    any other count: their convex hull.
    """
    points = np.asarray(landmarks, np.float32)
    if len(points) == 68:
        brows = points[17:27].copy()
        chin_to_brow = points[8] - points[17:27].mean(0)
        brows -= chin_to_brow * 0.25
        points = np.concatenate([points[0:17], brows])
    return cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)


def hull_mask(polygon: np.ndarray, size: int) -> np.ndarray:
    """A float 0/1 mask of ``polygon`` (crop coordinates) in a ``size`` square."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(np.asarray(polygon) * 4).astype(np.int32), 1, lineType=cv2.LINE_AA, shift=2)
    return mask.astype(np.float32)


def parts_mask(landmarks: np.ndarray, size: int) -> Optional[np.ndarray]:
    """Eyes and mouth (DeepFaceLab's eyes/mouth priority), from 68 crop-space landmarks; None otherwise."""
    points = np.asarray(landmarks, np.float32)
    if len(points) != 68:
        return None
    mask = np.zeros((size, size), np.uint8)
    for part in (points[36:42], points[42:48], points[48:60]):
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(part).astype(np.int32)), 1)
    grow = max(3, size // 32) | 1
    return cv2.dilate(mask, np.ones((grow, grow), np.uint8)).astype(np.float32)
