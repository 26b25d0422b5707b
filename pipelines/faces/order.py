"""Face order: the numbers people pick faces by (0 = first) depend on it."""

from __future__ import annotations

from typing import get_args

from pipelines.faces.types import DetectedFace, FaceOrder

ORDERS: tuple[str, ...] = get_args(FaceOrder)


def order_faces(faces: list[DetectedFace], order: str = "left-right") -> list[DetectedFace]:
    """Sort faces: ``left-right`` / ``right-left`` / ``top-bottom`` by centre, ``size`` and ``score`` biggest first."""
    keys = {
        "left-right": lambda f: (f.center[0], f.center[1]),
        "right-left": lambda f: (-f.center[0], f.center[1]),
        "top-bottom": lambda f: (f.center[1], f.center[0]),
        "size": lambda f: -(f.width * f.height),
        "score": lambda f: -f.score,
    }
    if order not in keys:
        raise ValueError(f"unknown face order {order!r}; use one of {', '.join(ORDERS)}")
    return sorted(faces, key=keys[order])

