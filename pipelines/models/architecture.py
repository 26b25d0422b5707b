"""What a checkpoint is: the model family and the variant that decide how it is built."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ModelFamily(str, Enum):
    """Stable Diffusion families that Atelier can load."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl-refiner"


class PredictionType(str, Enum):
    EPSILON = "epsilon"
    V_PREDICTION = "v_prediction"


@dataclass(frozen=True)
class Architecture:
    """A family plus the variant flags that change the network's shapes or objective."""

    family: ModelFamily
    inpaint: bool = False
    prediction: PredictionType = PredictionType.EPSILON

    @property
    def config_name(self) -> str:
        """Name of the bundled diffusers config folder (``pipelines/configs/<name>``)."""
        return f"{self.family.value}-inpaint" if self.inpaint else self.family.value

    @property
    def label(self) -> str:
        """Short human label, e.g. ``SDXL inpaint`` or ``SD2 (v)``."""
        names = {
            ModelFamily.SD1: "SD1",
            ModelFamily.SD2: "SD2",
            ModelFamily.SDXL: "SDXL",
            ModelFamily.SDXL_REFINER: "SDXL refiner",
        }
        text = names[self.family]
        if self.inpaint:
            text += " inpaint"
        if self.prediction is PredictionType.V_PREDICTION:
            text += " (v)"
        return text

    @property
    def is_xl(self) -> bool:
        return self.family in (ModelFamily.SDXL, ModelFamily.SDXL_REFINER)


class UnsupportedModelError(ValueError):
    """A file that is not a Stable Diffusion checkpoint Atelier can load; the message says why."""
