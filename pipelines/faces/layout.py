"""Where face model files live under the models folder (ReActor's layout), found without loading.

models/insightface/inswapper_128.onnx (or _fp16)      the one-shot swapper
models/insightface/models/<pack>/*.onnx                detector, landmarks, genderage, recognition
models/facerestore/*.onnx                              GFPGAN / CodeFormer / GPEN restorers
models/faces/*.safetensors                             saved face models (blended identities)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pipelines.faces.errors import MissingModelError

INSWAPPER_FILES = ("inswapper_128.onnx", "inswapper_128_fp16.onnx")
PREFERRED_PACK = "buffalo_l"


@dataclass(frozen=True)
class FaceModelLayout:
    """The face model folders of one models directory."""

    models_dir: Path

    @property
    def insightface_dir(self) -> Path:
        return self.models_dir / "insightface"

    @property
    def packs_dir(self) -> Path:
        return self.insightface_dir / "models"

    @property
    def restore_dir(self) -> Path:
        return self.models_dir / "facerestore"

    @property
    def face_models_dir(self) -> Path:
        return self.models_dir / "faces"

    def packs(self) -> list[Path]:
        """Analysis packs (folders holding .onnx files), ``buffalo_l`` first."""
        if not self.packs_dir.is_dir():
            return []
        found = [p for p in sorted(self.packs_dir.iterdir()) if p.is_dir() and any(p.glob("*.onnx"))]
        return sorted(found, key=lambda p: p.name != PREFERRED_PACK)

    def pack(self) -> Optional[Path]:
        packs = self.packs()
        return packs[0] if packs else None

    def inswapper(self) -> Optional[Path]:
        for name in INSWAPPER_FILES:
            path = self.insightface_dir / name
            if path.is_file():
                return path
        return None

    def require_inswapper(self) -> Path:
        path = self.inswapper()
        if path is None:
            raise MissingModelError("The inswapper method", list(INSWAPPER_FILES), self.insightface_dir)
        return path

    def require_pack(self) -> Path:
        pack = self.pack()
        if pack is None:
            raise MissingModelError("The inswapper method (identity embeddings)",
                                    [f"{PREFERRED_PACK}/*.onnx (detector + w600k recognizer)"], self.packs_dir)
        return pack

    def restorers(self) -> list[str]:
        """Restorer file names in ``models/facerestore`` (GFPGAN, CodeFormer, GPEN ONNX)."""
        if not self.restore_dir.is_dir():
            return []
        return sorted(p.name for p in self.restore_dir.glob("*.onnx") if p.is_file())

    def require_restorer(self, name: str) -> Path:
        path = self.restore_dir / Path(name).name
        if Path(name).name != name or not path.is_file():
            raise MissingModelError(f"Face restoration {name!r}", [Path(name).name], self.restore_dir)
        return path
