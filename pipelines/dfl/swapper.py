"""Put the source face on one destination face with a trained model (DeepFaceLab's merger, per face).

Crop the face as the model's face type, encode it, draw it with the source decoder, build the
mask (destination hull, learned, or both), erode / blur it, recolour the new face like the
destination, sharpen, optionally motion-blur, and paste it back. Shared by merge (workspace
frames) and the Faces engine's "trained model" swap method (any picture).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import cv2
import numpy as np
import torch

from pipelines.dfl.colour import check_mode, transfer
from pipelines.dfl.facetype import crop_matrix, hull_mask, hull_polygon, transform_points
from pipelines.dfl.model import FaceAutoencoder
from pipelines.faces.align import paste_back

MaskMode = Literal["dst hull", "learned", "combined"]
MASK_MODES: tuple[MaskMode, ...] = ("dst hull", "learned", "combined")


@dataclass(frozen=True)
class MergeOptions:
    """DeepFaceLab's merge controls. ``erode`` and ``blur`` are thousandths of the face size
    (DeepFaceLab's −400…400 and 0…400 ranges; negative erode grows the mask); ``face_scale`` is
    −50…50 % of the pasted face; ``sharpen`` 0…1; ``motion_blur`` 0…1 (off by default)."""

    mask_mode: MaskMode = "dst hull"
    erode: int = 0
    blur: int = 50
    face_scale: int = 0
    colour: str = "rct"
    sharpen: float = 0.0
    motion_blur: float = 0.0

    def __post_init__(self) -> None:
        if self.mask_mode not in MASK_MODES:
            raise ValueError(f"mask mode {self.mask_mode!r}: use one of {', '.join(MASK_MODES)}")
        check_mode(self.colour)
        for name, low, high in (("erode", -400, 400), ("blur", 0, 400), ("face_scale", -50, 50),
                                ("sharpen", 0, 1), ("motion_blur", 0, 1)):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name.replace('_', ' ')} must be between {low} and {high}, got {getattr(self, name)}")

    def describe(self) -> str:
        return (f"mask {self.mask_mode}, erode {self.erode}, blur {self.blur}, face scale {self.face_scale}, "
                f"colour {self.colour}, sharpen {self.sharpen:g}, motion blur {self.motion_blur:g}")


def _odd(value: float) -> int:
    return max(1, int(round(value)) | 1)


def shape_mask(mask: np.ndarray, erode: int, blur: int) -> np.ndarray:
    """Erode (or dilate) then feather a crop mask; sizes in thousandths of the crop."""
    size = mask.shape[0]
    amount = int(round(abs(erode) * size / 1000))
    if amount:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * amount + 1, 2 * amount + 1))
        mask = cv2.erode(mask, kernel) if erode > 0 else cv2.dilate(mask, kernel)
    width = blur * size / 1000
    if width >= 1:
        # Pull the edge in by half the feather so the blurred mask fades out at the hull.
        pad = int(width / 2)
        if pad:
            mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1)))
        mask = cv2.GaussianBlur(mask, (_odd(width * 2), _odd(width * 2)), width / 3)
    # Nothing at the crop border, so the paste never shows the square's edge.
    mask[[0, -1], :] = 0
    mask[:, [0, -1]] = 0
    return np.clip(mask, 0, 1)


def sharpen(image: np.ndarray, amount: float) -> np.ndarray:
    if amount <= 0:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), max(image.shape[0] / 128, 0.8))
    return np.clip(image + amount * 2 * (image - blurred), 0, 1)


def motion_blur(image: np.ndarray, motion: Optional[np.ndarray], power: float) -> np.ndarray:
    """Blur along the face's motion between frames (``motion`` in crop pixels per frame)."""
    if power <= 0 or motion is None:
        return image
    length = float(np.linalg.norm(motion)) * power
    if length < 1:
        return image
    size = _odd(min(length, image.shape[0] / 4))
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0
    angle = float(np.degrees(np.arctan2(motion[1], motion[0])))
    kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, 1.0),
                            (size, size))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


class TrainedSwapper:
    """A trained model ready to swap faces given their landmarks (68 or 5 points, frame pixels)."""

    def __init__(self, model: FaceAutoencoder, device: torch.device = torch.device("cpu")) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.config = model.config

    def check(self, options: MergeOptions) -> None:
        if options.mask_mode != "dst hull" and not self.config.learn_mask:
            raise ValueError(f"mask mode {options.mask_mode!r} needs a model trained with a learned mask; "
                             "this one was not: use 'dst hull'")

    @torch.no_grad()
    def predict(self, crop: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """(source face float RGB, learned mask or None) for an aligned crop (float 0..1)."""
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None].float().to(self.device)
        rgb, mask_src, mask_dst = self.model.swap(x)
        face = rgb[0].float().cpu().numpy().transpose(1, 2, 0)
        learned = None if mask_src is None or mask_dst is None else (mask_src * mask_dst)[0, 0].float().cpu().numpy()
        return face, learned

    def swap_face(self, frame: np.ndarray, landmarks: np.ndarray, options: MergeOptions = MergeOptions(),
                  motion: Optional[np.ndarray] = None) -> np.ndarray:
        """``frame`` (uint8 RGB) with the face at ``landmarks`` replaced by the source person."""
        self.check(options)
        res, face_type = self.config.resolution, self.config.face_type
        matrix = crop_matrix(landmarks, face_type, res)
        crop = cv2.warpAffine(frame, matrix, (res, res), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
        face, learned = self.predict(crop)
        hull = hull_mask(hull_polygon(transform_points(matrix, landmarks)), res)
        if options.mask_mode == "dst hull" or learned is None:
            mask = hull
        elif options.mask_mode == "learned":
            mask = learned
        else:
            mask = hull * learned
        mask = shape_mask(mask.astype(np.float32), options.erode, options.blur)
        face = transfer(options.colour, face, crop, mask, mask)
        face = sharpen(face, options.sharpen)
        if motion is not None and options.motion_blur > 0:
            local = matrix[:, :2] @ np.asarray(motion, np.float64)
            face = motion_blur(face, local, options.motion_blur)
        paste = matrix
        if options.face_scale:
            paste = crop_matrix(landmarks, face_type, res, scale=1.0 / (1.0 + options.face_scale / 100.0))
        return paste_back(frame, face * 255.0, paste, mask)
