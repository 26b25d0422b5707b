"""Training augmentations a deepfake detector needs, applied to real and fake faces alike.

What a detector must not learn is how a picture was *shared* (JPEG, blur, resizing, colour
grading) rather than whether it was *manipulated*; so every one of these is drawn from the same
distribution for both classes. ``recolour_like_sbi`` gives reals the same global colour grade a
self-blended fake gets when its target is recoloured, so a colour cast is no cue either.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.detect.sbi import recolour

RECOLOUR_P = 0.5  # sbi.self_blend recolours the whole target (not only the blended source) half the time


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else image


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def resize_round_trip(image: np.ndarray, factor: float) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(2, int(w * factor)), max(2, int(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.astype(np.float32)
    out = (out - out.mean()) * rng.uniform(0.85, 1.15) + out.mean() + rng.uniform(-15, 15)
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * rng.uniform(0.8, 1.2)
    return np.clip(out, 0, 255).astype(np.uint8)


def recolour_like_sbi(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A real face given the grade a self-blend gives its whole target, as often."""
    return recolour(image, rng) if rng.random() < RECOLOUR_P else image


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip, then each of colour jitter / blur / resize / JPEG with probability 0.3, in random
    strength: the same for both classes."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
    image = np.ascontiguousarray(image)
    if rng.random() < 0.3:
        image = colour_jitter(image, rng)
    if rng.random() < 0.3:
        image = blur(image, float(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.3:
        image = resize_round_trip(image, float(rng.uniform(0.4, 0.9)))
    if rng.random() < 0.3:
        image = jpeg(image, int(rng.integers(40, 96)))
    return image
