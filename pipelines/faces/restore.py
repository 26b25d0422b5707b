"""Face restoration after a swap with ONNX restorers from ``models/facerestore/`` (no torchvision).

GFPGAN and GPEN take one [1,3,S,S] RGB input in -1..1 and return the same; CodeFormer's export
adds a second input, the fidelity weight (0 = strongest restoration, 1 = closest to the input).
The aligned FFHQ crop is restored and pasted back through a feathered box mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipelines.faces.align import box_mask, crop, paste_back
from pipelines.faces.types import DetectedFace

CODEFORMER_FIDELITY = 0.5  # A1111's code_former_weight default


class FaceRestorer:
    """One restorer model (an ONNX Runtime session)."""

    def __init__(self, path: Path, providers: list[str]) -> None:
        import onnxruntime

        self.path = path
        self.session: Any = onnxruntime.InferenceSession(str(path), providers=providers)
        inputs = self.session.get_inputs()
        size = inputs[0].shape[-1]
        self.size = int(size) if isinstance(size, int) else 512
        self.input_names = [i.name for i in inputs]
        self.fidelity_type = np.float64 if len(inputs) > 1 and "double" in inputs[1].type else np.float32

    @property
    def name(self) -> str:
        return self.path.name

    def restore_crop(self, rgb_crop: np.ndarray, fidelity: float = CODEFORMER_FIDELITY) -> np.ndarray:
        """A restored ``size`` x ``size`` RGB crop (uint8 in, float 0..255 out); ``fidelity`` feeds
        CodeFormer's weight input (models without one ignore it)."""
        blob = (rgb_crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        feeds = {self.input_names[0]: blob}
        if len(self.input_names) > 1:
            feeds[self.input_names[1]] = np.array([fidelity], self.fidelity_type)
        out = self.session.run(None, feeds)[0][0]
        return np.clip((out.transpose(1, 2, 0) + 1.0) * 127.5, 0, 255)

    def restore(self, image: np.ndarray, face: DetectedFace, weight: float,
                fidelity: float = CODEFORMER_FIDELITY) -> np.ndarray:
        """``image`` with ``face`` restored, blended in at ``weight`` (0 = untouched, 1 = fully restored)."""
        if weight <= 0:
            return image
        aligned, matrix = crop(image, face.kps5, self.size, kind="ffhq")
        restored = self.restore_crop(aligned, fidelity)
        return paste_back(image, restored, matrix, box_mask(self.size, erosion=0.05, blur=0.1) * min(weight, 1.0))
