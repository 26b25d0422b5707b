"""The computer-graphics swap: no learned swapper, only landmarks and image warping.

1. Piecewise-affine warp of the source face onto the target's 68-landmark geometry (Delaunay
   triangles over the target landmarks, one dense remap: no seams between triangles).
2. Colour transfer in LAB, statistics taken only inside the face, then a low-frequency shading
   match, so skin tone and lighting follow the target without a halo.
3. A mask from the landmarks' convex hull, eroded and feathered, with the target's eyes and inner
   mouth cut out so its expression (gaze, open mouth) stays.
4. Alpha blend (or Poisson cloning kept inside the same feathered mask): pixels outside the mask
   are the target's, exactly.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from scipy.spatial import Delaunay

from pipelines.faces.align import INNER_MOUTH, LEFT_EYE, RIGHT_EYE, feather
from pipelines.faces.masks import MaskOptions

Blend = Literal["alpha", "poisson"]
BLENDS = ("alpha", "poisson")


def _face_size(points: np.ndarray) -> float:
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return float(max(x1 - x0, y1 - y0, 1.0))


def _region(points: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """Bounding box of ``points`` grown by ``margin`` pixels, clipped to the image."""
    x0, y0 = np.floor(points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def warp_face(source: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
              region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Source pixels moved onto the target geometry inside ``region``: (warped float RGB, inside-mesh mask)."""
    x0, y0, x1, y1 = region
    mesh = Delaunay(target_points)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    simplex = mesh.find_simplex(pixels)
    inside = simplex >= 0
    safe = np.where(inside, simplex, 0)
    affine = mesh.transform[safe]
    partial = np.einsum("nij,nj->ni", affine[:, :2], pixels - affine[:, 2])
    weights = np.concatenate([partial, 1.0 - partial.sum(1, keepdims=True)], axis=1)
    corners = source_points[mesh.simplices[safe]]
    mapped = np.einsum("nk,nkd->nd", weights, corners).astype(np.float32)
    h, w = y1 - y0, x1 - x0
    warped = cv2.remap(source.astype(np.float32), mapped[:, 0].reshape(h, w), mapped[:, 1].reshape(h, w),
                       interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return warped, inside.reshape(h, w).astype(np.float32)


def face_mask(points: np.ndarray, shape: tuple[int, int], offset: tuple[int, int], keep_expression: bool) -> np.ndarray:
    """Hard mask (0/1) of the face hull in a region at ``offset``; eyes and inner mouth cut out when asked."""
    mask = np.zeros(shape, np.uint8)
    local = np.round(points - np.array(offset)).astype(np.int32)
    cv2.fillConvexPoly(mask, cv2.convexHull(local), 1)
    if keep_expression:
        size = _face_size(points)
        for part in (LEFT_EYE, RIGHT_EYE, INNER_MOUTH):
            hole = np.zeros(shape, np.uint8)
            cv2.fillPoly(hole, [local[part]], 1)
            grow = max(int(size * 0.01), 1) * 2 + 1
            hole = cv2.dilate(hole, np.ones((grow, grow), np.uint8))
            mask[hole > 0] = 0
    return mask


def _masked_blur(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 2-D ``image`` that only averages pixels inside ``mask`` (normalised convolution): no bleed from outside."""
    k = int(sigma * 3) * 2 + 1
    weight = cv2.GaussianBlur(mask, (k, k), sigma)
    blurred = cv2.GaussianBlur(np.ascontiguousarray(image * mask), (k, k), sigma)
    return blurred / np.maximum(weight, 1e-4)


def match_colours(warped: np.ndarray, target: np.ndarray, mask: np.ndarray, size: float) -> np.ndarray:
    """``warped`` recoloured like ``target`` inside ``mask``: LAB mean/std transfer, then shading match."""
    inside = mask > 0
    if inside.sum() < 16:
        return warped
    lab_w = cv2.cvtColor(np.clip(warped, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab_t = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean_w, std_w = lab_w[inside].mean(0), lab_w[inside].std(0) + 1e-3
    mean_t, std_t = lab_t[inside].mean(0), lab_t[inside].std(0) + 1e-3
    scale = np.clip(std_t / std_w, 0.5, 2.0)
    lab = (lab_w - mean_w) * scale + mean_t
    # Low-frequency lighting: the target's smooth shading over the source's fine detail.
    sigma = max(size * 0.08, 2.0)
    hard = inside.astype(np.float32)
    lab[..., 0] += _masked_blur(lab_t[..., 0], hard, sigma) - _masked_blur(lab[..., 0], hard, sigma)
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0, 0, 255)


def classic_swap(source: np.ndarray, source_points: np.ndarray, target: np.ndarray, target_points: np.ndarray,
                 mask: MaskOptions = MaskOptions(), blend: Blend = "poisson", keep_expression: bool = True) -> np.ndarray:
    """``target`` (HxWx3 uint8 RGB) with the face at ``target_points`` (68) replaced by the source's face."""
    if blend not in BLENDS:
        raise ValueError(f"unknown blend {blend!r}; use one of {', '.join(BLENDS)}")
    source_points = np.asarray(source_points, np.float64)
    target_points = np.asarray(target_points, np.float64)
    size = _face_size(target_points)
    x0, y0, x1, y1 = _region(target_points, target.shape, margin=size * 0.1 + 4)
    warped, inside_mesh = warp_face(source, source_points, target_points, (x0, y0, x1, y1))
    hull = face_mask(target_points, (y1 - y0, x1 - x0), (x0, y0), keep_expression).astype(np.float32)
    hull *= inside_mesh
    hull_mesh = hull.copy()
    # Erode by the erosion plus half the feather width, so the feathered edge has faded out at the hull.
    erode = int(round(size * (mask.erosion + mask.blur / 2)))
    if erode > 0:
        hull = cv2.erode(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    patch = target[y0:y1, x0:x1]
    colour = match_colours(warped, patch, hull, size)
    if blend == "poisson" and hull.sum() > 0:
        colour = _poisson(colour, target, hull, (x0, y0))
    alpha = np.minimum(feather(hull, size * mask.blur), hull_mesh) * mask.opacity
    out = target.copy()
    blended = patch.astype(np.float32) * (1 - alpha[..., None]) + colour * alpha[..., None]
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def _poisson(colour: np.ndarray, target: np.ndarray, hull: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """Poisson (seamless) cloning of the recoloured face into the target, returned as the region's pixels."""
    x0, y0 = offset
    h, w = hull.shape
    binary = (hull > 0.5).astype(np.uint8) * 255
    ys, xs = np.nonzero(binary)
    center = (int(x0 + (xs.min() + xs.max()) // 2), int(y0 + (ys.min() + ys.max()) // 2))
    cloned = cv2.seamlessClone(np.clip(colour, 0, 255).astype(np.uint8), np.ascontiguousarray(target), binary, center,
                               cv2.NORMAL_CLONE)
    return cloned[y0:y0 + h, x0:x0 + w].astype(np.float32)
