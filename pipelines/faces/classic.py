"""The built-in swap: no learned swapper, only the 68 landmarks, image warping and blending.

Identity lives in the shape of the whole face (eyes, brows, nose, mouth, jaw) as much as in its
texture, so the source's *whole face* goes onto the target, in the target's position, size and
roll (bench/RESULTS.md: pasting the source's texture between the target's own features left
every result the target's person):

1. A similarity transform (Umeyama, on eyes, nose and mouth) puts the source's landmarks,
   extended with forehead points, where the target's face is: the result's face geometry.
2. The target picture is warped so its jaw and forehead outline meet that new outline (a
   piecewise-affine "liquify" that fades to nothing on a ring around the face), so no old chin
   or cheek shows beside the new one.
3. The source face is warped onto the new geometry, recoloured like the target (LAB mean/std
   inside the face, then the target's large-scale shading) and blended by a Laplacian pyramid
   (multi-band): coarse bands mix over a wide margin, fine ones over a few pixels, so there is
   neither a seam nor a colour blotch. ``poisson`` (OpenCV's seamless clone) and ``alpha``
   (feathered) blends remain as options.

Pixels outside the ring are the target's, exactly.
"""

from __future__ import annotations

from typing import Literal, Optional

import cv2
import numpy as np
from scipy.spatial import Delaunay

from pipelines.faces.align import feather
from pipelines.faces.masks import MaskOptions

Blend = Literal["multiband", "poisson", "alpha"]
BLENDS = ("multiband", "poisson", "alpha")

JAW = list(range(0, 17))
BROWS = list(range(17, 27))
ALIGN_POINTS = list(range(27, 36)) + list(range(36, 48)) + [48, 54]
"""Nose, eyes and mouth corners: where two faces are put on top of each other."""
FOREHEAD_RISE = 0.22
"""Forehead points: the brows raised by this fraction of the eyes-to-chin height."""
OUTLINE_WEIGHT = 0.6
"""How far the jaw and forehead follow the source's (the rest is the target's outline)."""
MASK_FOREHEAD = 0.45
"""The blend mask's top edge: this fraction of the way from the brows to the forehead points
(higher would bring the source's hairline or fringe along)."""
SUBPIXEL_BITS = 4
SUBPIXEL = 1 << SUBPIXEL_BITS
RING = 1.45
"""The target warp fades to zero on the face outline scaled by this about the face centre."""


def _face_size(points: np.ndarray) -> float:
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return float(max(x1 - x0, y1 - y0, 1.0))


def with_forehead(points: np.ndarray) -> np.ndarray:
    """68 landmarks plus 10 forehead points above the brows (dlib stops at the brows)."""
    points = np.asarray(points, np.float64)
    eyes = points[36:48].mean(0)
    up = eyes - points[8]
    return np.concatenate([points, points[BROWS] + FOREHEAD_RISE * up])


def outline(points: np.ndarray) -> np.ndarray:
    """Indices (into :func:`with_forehead` points) of the face's outer contour, in order."""
    return np.array(JAW + list(range(68 + 9, 67, -1)))


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift) best taking ``src`` onto ``dst`` (least squares)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / max(a.var(0).sum(), 1e-12))
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - matrix[:, :2] @ mu_s
    return matrix


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def turn(points: np.ndarray) -> float:
    """How far a face is turned sideways, -1..1 (0 frontal): where the nose tip sits between the jaw ends."""
    left = float(np.linalg.norm(points[30] - points[0]))
    right = float(np.linalg.norm(points[30] - points[16]))
    return (left - right) / max(left + right, 1e-6)


def _mirror_order() -> np.ndarray:
    """Index of each dlib-68 point's mirror image (left eye <-> right eye, ...)."""
    order = list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + list(range(35, 30, -1))
    order += [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    order += list(range(54, 47, -1)) + list(range(59, 54, -1)) + list(range(64, 59, -1)) + [67, 66, 65]
    return np.array(order)


MIRROR = _mirror_order()


def facing_target(source: np.ndarray, points: np.ndarray, target_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The source, mirrored when its head is turned the other way from the target's (a face
    looks like itself mirrored; a frontal face stretched onto the opposite turn does not)."""
    s, t = turn(points), turn(target_points)
    if s * t >= 0 or abs(s - t) < 0.3:
        return source, points
    flipped = points[MIRROR].copy()
    flipped[:, 0] = source.shape[1] - 1 - flipped[:, 0]
    return np.ascontiguousarray(source[:, ::-1]), flipped


def result_geometry(source_points: np.ndarray, target_points: np.ndarray, shape_weight: float = 1.0,
                    outline_weight: Optional[float] = None) -> np.ndarray:
    """Where the swapped face's 78 points go: the source's face shape in the target's place.

    ``shape_weight`` mixes the inner features (1 = the source's shape exactly), ``outline_weight``
    the jaw and forehead: part of the target's outline is kept so a turned head keeps its turn
    and the target picture is not stretched far.
    """
    src, dst = with_forehead(source_points), with_forehead(target_points)
    if outline_weight is None:  # heads turned differently: keep more of the target's outline
        outline_weight = OUTLINE_WEIGHT * max(0.0, 1.0 - abs(turn(source_points) - turn(target_points)) / 0.6)
    placed = _apply(umeyama(src[ALIGN_POINTS], dst[ALIGN_POINTS]), src)
    weights = np.full((len(src), 1), shape_weight)
    weights[outline(dst)] = outline_weight
    return dst + weights * (placed - dst)


def _region(points: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """Bounding box of ``points`` grown by ``margin`` pixels, clipped to the image."""
    x0, y0 = np.floor(points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def warp_face(source: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
              region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Source pixels moved onto the target geometry inside ``region``: (warped float RGB, inside-mesh mask).

    Each Delaunay triangle of the target points is rasterised into a label image (OpenCV, with
    sub-pixel precision), and every pixel is mapped by its triangle's affine transform in one
    vectorised pass and one ``remap`` (no seams between triangles; ~10x faster than locating
    each pixel's simplex).
    """
    x0, y0, x1, y1 = region
    h, w = y1 - y0, x1 - x0
    mesh = Delaunay(target_points)
    labels = np.full((h, w), -1, np.int32)
    local = (target_points - (x0, y0)) * SUBPIXEL
    for k, triangle in enumerate(mesh.simplices):
        cv2.fillConvexPoly(labels, np.round(local[triangle]).astype(np.int32), int(k), cv2.LINE_8, SUBPIXEL_BITS)
    ones = np.ones((len(mesh.simplices), 3, 1))
    dst = np.concatenate([target_points[mesh.simplices], ones], axis=2)  # (T, 3, 3): x, y, 1 per corner
    affine = np.linalg.solve(dst, source_points[mesh.simplices])  # (T, 3, 2): [x y 1] @ A = source x, y
    inside = labels >= 0
    ys, xs = np.nonzero(inside)
    chosen = affine[labels[ys, xs]]
    px, py = xs + float(x0), ys + float(y0)
    map_x = np.full((h, w), -1.0, np.float32)
    map_y = np.full((h, w), -1.0, np.float32)
    map_x[ys, xs] = px * chosen[:, 0, 0] + py * chosen[:, 1, 0] + chosen[:, 2, 0]
    map_y[ys, xs] = px * chosen[:, 0, 1] + py * chosen[:, 1, 1] + chosen[:, 2, 1]
    warped = cv2.remap(source.astype(np.float32), map_x, map_y, interpolation=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
    return warped, inside.astype(np.float32)


def _ring(points: np.ndarray, scale: float, count: int = 24) -> np.ndarray:
    """``count`` points on an ellipse around ``points``, ``scale`` times their spread."""
    center = points.mean(0)
    radius = np.abs(points - center).max(0) * scale
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return center + np.stack([np.cos(angles), np.sin(angles)], 1) * radius


def reshape_target(target: np.ndarray, target_points: np.ndarray, new_points: np.ndarray,
                   region: tuple[int, int, int, int]) -> np.ndarray:
    """The target's pixels in ``region`` warped so its face outline lands on ``new_points``' outline.

    Inner points move with the outline's average motion (the face is replaced there anyway);
    a fixed ring well outside both faces keeps the background and hair in place.
    """
    old, new = with_forehead(target_points), new_points
    ring = _ring(np.concatenate([old, new]), RING)
    contour = outline(old)
    src = np.concatenate([old[contour], ring])
    dst = np.concatenate([new[contour], ring])
    warped, inside = warp_face(target, src, dst, region)
    x0, y0, x1, y1 = region
    patch = target[y0:y1, x0:x1].astype(np.float32)
    return np.where(inside[..., None] > 0, warped, patch)


def face_mask(points: np.ndarray, shape: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """Hard mask (0/1) of the face (jaw, brows and the lower forehead) in a region at ``offset``."""
    mask = np.zeros(shape, np.uint8)
    points = np.concatenate([points[:68], points[BROWS] + MASK_FOREHEAD * (points[68:78] - points[BROWS])])
    local = np.round(points - np.array(offset)).astype(np.int32)
    cv2.fillPoly(mask, [cv2.convexHull(local)], 1)
    return mask


def _masked_blur(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 2-D ``image`` that only averages pixels inside ``mask`` (normalised convolution): no bleed from outside."""
    k = int(sigma * 3) * 2 + 1
    weight = cv2.GaussianBlur(mask, (k, k), sigma)
    blurred = cv2.GaussianBlur(np.ascontiguousarray(image * mask), (k, k), sigma)
    return blurred / np.maximum(weight, 1e-4)


def match_colours(warped: np.ndarray, target: np.ndarray, mask: np.ndarray, size: float,
                  shading: float = 0.15) -> np.ndarray:
    """``warped`` recoloured like ``target`` inside ``mask``: LAB mean/std transfer, then the
    target's lighting at scales above ``shading`` × face size (finer ones are the face itself)."""
    inside = mask > 0
    if inside.sum() < 16:
        return warped
    lab_w = cv2.cvtColor(np.clip(warped, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab_t = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean_w, std_w = lab_w[inside].mean(0), lab_w[inside].std(0) + 1e-3
    mean_t, std_t = lab_t[inside].mean(0), lab_t[inside].std(0) + 1e-3
    scale = np.clip(std_t / std_w, 0.6, 1.6)
    scale[0] = np.clip(scale[0], 0.8, 1.25)  # keep the source's own contrast of features
    lab = (lab_w - mean_w) * scale + mean_t
    if shading > 0:
        sigma = max(size * shading, 2.0)
        hard = inside.astype(np.float32)
        for channel in range(3):
            lab[..., channel] += _masked_blur(lab_t[..., channel], hard, sigma) - _masked_blur(lab[..., channel], hard, sigma)
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0, 0, 255)


def multiband_blend(face: np.ndarray, base: np.ndarray, alpha: np.ndarray, levels: int) -> np.ndarray:
    """Burt-Adelson Laplacian-pyramid blend of ``face`` over ``base`` through ``alpha`` (all float, same size)."""
    gf, gb, gm = [face], [base], [alpha]
    for _ in range(levels):
        gf.append(cv2.pyrDown(gf[-1]))
        gb.append(cv2.pyrDown(gb[-1]))
        gm.append(cv2.pyrDown(gm[-1]))
    out = gf[-1] * gm[-1][..., None] + gb[-1] * (1 - gm[-1][..., None])
    for i in range(levels - 1, -1, -1):
        size = (gf[i].shape[1], gf[i].shape[0])
        lf = gf[i] - cv2.pyrUp(gf[i + 1], dstsize=size)
        lb = gb[i] - cv2.pyrUp(gb[i + 1], dstsize=size)
        m = gm[i][..., None]
        out = cv2.pyrUp(out, dstsize=size) + lf * m + lb * (1 - m)
    return out


def classic_swap(source: np.ndarray, source_points: np.ndarray, target: np.ndarray, target_points: np.ndarray,
                 mask: MaskOptions = MaskOptions(), blend: Blend = "multiband") -> np.ndarray:
    """``target`` (HxWx3 uint8 RGB) with the face at ``target_points`` (68) replaced by the source's whole face."""
    if blend not in BLENDS:
        raise ValueError(f"unknown blend {blend!r}; use one of {', '.join(BLENDS)}")
    target_points = np.asarray(target_points, np.float64)
    source, source_points = facing_target(source, np.asarray(source_points, np.float64), target_points)
    new = result_geometry(source_points, target_points)
    size = _face_size(new)
    everything = np.concatenate([_ring(np.concatenate([with_forehead(target_points), new]), RING), new])
    x0, y0, x1, y1 = _region(everything, target.shape, margin=4)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return target.copy()
    base = reshape_target(target, target_points, new, (x0, y0, x1, y1))
    warped, inside_mesh = warp_face(source, with_forehead(source_points), new, (x0, y0, x1, y1))
    hull = face_mask(new, (y1 - y0, x1 - x0), (x0, y0)).astype(np.float32) * inside_mesh
    erode = int(round(size * mask.erosion))
    if erode > 0:
        hull = cv2.erode(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    colour = match_colours(warped, base, hull, size)
    if blend == "multiband":
        soft = np.minimum(feather(hull, max(size * mask.blur * 0.5, 2.0)), 1.0)
        levels = int(np.clip(np.log2(max(size, 8) / 8.0), 1, 6))
        blended = multiband_blend(colour, base, soft, levels)
        # The coarse bands spread past the mask: keep them only over a feathered, dilated hull.
        grow = max(int(size * 0.06), 2)
        support = feather(cv2.dilate(hull, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)), grow)
        alpha = np.clip(support, 0, 1) * mask.opacity
        colour = blended
    else:
        if blend == "poisson" and hull.sum() > 0:
            colour = _poisson(colour, target, base, hull, (x0, y0))
        alpha = np.minimum(feather(hull, size * mask.blur), hull) * mask.opacity
    out = target.copy()
    region = base * (1 - alpha[..., None]) + colour * alpha[..., None] if mask.opacity > 0 else target[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
    return out


def _poisson(colour: np.ndarray, target: np.ndarray, base: np.ndarray, hull: np.ndarray,
             offset: tuple[int, int]) -> np.ndarray:
    """Poisson (seamless) cloning of the recoloured face into the reshaped target, as the region's pixels."""
    x0, y0 = offset
    h, w = hull.shape
    binary = (hull > 0.5).astype(np.uint8) * 255
    ys, xs = np.nonzero(binary)
    center = (int(x0 + (xs.min() + xs.max()) // 2), int(y0 + (ys.min() + ys.max()) // 2))
    canvas = target.copy()
    canvas[y0:y0 + h, x0:x0 + w] = np.clip(base + 0.5, 0, 255).astype(np.uint8)
    cloned = cv2.seamlessClone(np.clip(colour, 0, 255).astype(np.uint8), canvas, binary, center, cv2.NORMAL_CLONE)
    return cloned[y0:y0 + h, x0:x0 + w].astype(np.float32)
