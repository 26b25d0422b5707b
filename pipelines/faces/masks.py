"""How a swapped face is blended in: mask erosion and feather, opacity (one set of options for every method)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MaskOptions:
    """Fractions of the face size, so the same numbers suit a 100 px and a 1000 px face.

    ``erosion`` pulls the mask edge inwards (hides the seam at the face border), ``blur``
    feathers it, ``opacity`` scales the whole mask (1 = fully swapped).
    """

    erosion: float = 0.02
    blur: float = 0.08
    opacity: float = 1.0

    def __post_init__(self) -> None:
        for name, low, high in (("erosion", 0.0, 0.45), ("blur", 0.0, 0.5), ("opacity", 0.0, 1.0)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"mask {name} must be between {low} and {high}, got {value}")

    def describe(self) -> str:
        return f"erosion {self.erosion:g}, blur {self.blur:g}, opacity {self.opacity:g}"
