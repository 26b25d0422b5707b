"""Face order: the numbers people pick faces by (0 = first) depend on it.

The eight orders are FaceFusion's (``--face-selector-order``), so its users find theirs;
``size`` and ``score`` are Atelier's older names for large-small and best-worst.
"""

from __future__ import annotations

from typing import Any, Callable

from pipelines.faces.types import DetectedFace

ORDERS: tuple[str, ...] = ("left-right", "right-left", "top-bottom", "bottom-top", "small-large", "large-small",
                           "best-worst", "worst-best")
ALIASES = {"size": "large-small", "score": "best-worst"}

_KEYS: dict[str, Callable[[DetectedFace], Any]] = {
    "left-right": lambda f: (f.center[0], f.center[1]),
    "right-left": lambda f: (-f.center[0], f.center[1]),
    "top-bottom": lambda f: (f.center[1], f.center[0]),
    "bottom-top": lambda f: (-f.center[1], f.center[0]),
    "small-large": lambda f: f.width * f.height,
    "large-small": lambda f: -(f.width * f.height),
    "best-worst": lambda f: -f.score,
    "worst-best": lambda f: f.score,
}


def order_faces(faces: list[DetectedFace], order: str = "left-right") -> list[DetectedFace]:
    """Sort faces by position (centre), size (box area) or detector score, as ``order`` names."""
    key = _KEYS.get(ALIASES.get(order, order))
    if key is None:
        raise ValueError(f"unknown face order {order!r}; use one of {', '.join(ORDERS)}")
    return sorted(faces, key=key)
