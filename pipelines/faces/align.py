"""Face alignment: five-point templates, crops and pasting a processed crop back.

Every backend fills ``kps5`` (eyes, nose, mouth corners), so swapper, restorer and detector
crops all align the same way whichever detector found the face.
"""

from __future__ import annotations

import cv2
import numpy as np

# ArcFace's 112x112 template (x, y); the 128 variant shifts it 8 px right (insightface convention).
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
# FFHQ alignment used by GFPGAN / CodeFormer / GPEN, as fractions of the crop size.
FFHQ = np.array([[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
                 [0.39308822, 0.72541100], [0.61150205, 0.72490465]], np.float32)

# dlib 68-point indices.
JAW = slice(0, 17)
LEFT_EYE = list(range(36, 42))
RIGHT_EYE = list(range(42, 48))
INNER_MOUTH = list(range(60, 68))


def kps5_from_68(points: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from 68 landmarks (insightface order)."""
    points = np.asarray(points, np.float32)
    return np.stack([points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0), points[30], points[48], points[54]])


def template(kind: str, size: int) -> np.ndarray:
    """Destination points of a ``size`` square crop: ``arcface`` (112/128 family) or ``ffhq``."""
    if kind == "ffhq":
        return FFHQ * size
    if size % 112 == 0:
        return ARCFACE_112 * (size / 112.0)
    ratio = size / 128.0
    return ARCFACE_112 * ratio + np.array([8.0 * ratio, 0.0], np.float32)


def similarity(kps5: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, shift) taking ``kps5`` onto ``dst``."""
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(kps5, np.float32), dst, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("cannot align a face from degenerate landmarks")
    return matrix


def crop(image: np.ndarray, kps5: np.ndarray, size: int, kind: str = "arcface") -> tuple[np.ndarray, np.ndarray]:
    """The aligned ``size`` square crop and the matrix image→crop."""
    matrix = similarity(kps5, template(kind, size))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), matrix


def box_mask(size: int, erosion: float, blur: float) -> np.ndarray:
    """A float crop mask: 1 inside, ``erosion`` (fraction of the size) cut from each edge, edges blurred."""
    mask = np.zeros((size, size), np.float32)
    pad = int(round(size * min(max(erosion, 0.0), 0.45))) + 1
    mask[pad:size - pad, pad:size - pad] = 1.0
    return feather(mask, blur * size)


def feather(mask: np.ndarray, width: float) -> np.ndarray:
    """Blur a mask so it falls from 1 to 0 over about ``width`` pixels."""
    if width < 1:
        return mask
    sigma = width / 3.0
    k = int(sigma * 3) * 2 + 1
    return cv2.GaussianBlur(mask, (k, k), sigma)


def paste_back(base: np.ndarray, patch: np.ndarray, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Put an aligned ``patch`` (crop coordinates, ``matrix`` image→crop) back into ``base`` through ``mask``.

    Only the face's bounding region is warped and blended, so big images stay cheap and every
    pixel outside the mask keeps its exact value.
    """
    inverse = cv2.invertAffineTransform(matrix)
    h, w = patch.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float32) @ inverse.T
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 2, base.shape[1])
    y1 = min(int(np.ceil(corners[:, 1].max())) + 2, base.shape[0])
    if x1 <= x0 or y1 <= y0:
        return base
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(patch.astype(np.float32), shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask.astype(np.float32), shifted, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    out = base.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + warped * alpha + 0.5, 0, 255).astype(base.dtype)
    return out
