"""The insightface backend: a ReActor-layout model pack, loaded file by file with insightface's model_zoo.

``FaceAnalysis`` is never used: with a missing folder it tries to download. ``model_zoo.get_model``
on an existing file only classifies it by its input/output shapes (detector, 106 landmarks,
genderage, recognizer, swapper) and never fetches anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from pipelines.faces.errors import FaceError, MissingModelError
from pipelines.faces.loaded import LoadedFaceModels
from pipelines.faces.types import DetectedFace

DETECT_SIZE = (640, 640)
USED_TASKS = ("detection", "landmark_2d_106", "genderage", "recognition")


def load_onnx(path: Path, providers: list[str]) -> Any:
    """insightface's model object for one .onnx file (None when it is no face model it knows)."""
    import onnxruntime
    from insightface.model_zoo import model_zoo

    onnxruntime.set_default_logger_severity(3)
    return model_zoo.get_model(str(path), providers=providers)


def as_insight_face(face: DetectedFace) -> Any:
    """The insightface ``Face`` the swapper and attribute models read (bbox, kps, embedding)."""
    from insightface.app.common import Face

    return Face(bbox=np.asarray(face.box, np.float32), kps=np.asarray(face.kps5, np.float32),
                det_score=face.score, embedding=face.embedding)


class InsightBackend:
    """Detection + 106 landmarks + gender/age + ArcFace embedding from one pack folder."""

    def __init__(self, pack: Path, models: LoadedFaceModels) -> None:
        self.pack = pack
        self.models = models
        self.name = f"insightface/{pack.name}"

    def _by_task(self) -> dict[str, Any]:
        """The pack's models by insightface task name (first file of each task wins, like FaceAnalysis)."""
        tasks: dict[str, Any] = {}
        for path in sorted(self.pack.glob("*.onnx")):
            model = self.models.get("insightface", path, lambda p: load_onnx(p, self.models.providers))
            task = getattr(model, "taskname", None)
            if task in USED_TASKS and task not in tasks:
                tasks[task] = model
        return tasks

    @property
    def embedding_model(self) -> Optional[str]:
        model = self._by_task().get("recognition")
        return f"arcface/{Path(model.model_file).stem}" if model is not None else None

    def detect(self, rgb: np.ndarray, min_score: float = 0.5, embed: bool = True) -> list[DetectedFace]:
        from insightface.app.common import Face

        tasks = self._by_task()
        detector = tasks.get("detection")
        if detector is None:
            raise MissingModelError(f"The insightface pack {self.pack.name!r}", ["a detector (det_10g.onnx)"], self.pack)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        boxes, kpss = detector.detect(bgr, input_size=DETECT_SIZE, det_thresh=min_score)
        if kpss is None:
            raise FaceError(f"The detector in {self.pack} gives no five-point landmarks; use an SCRFD *_kps / det_10g model.")
        embedding_model = self.embedding_model if embed else None
        faces = []
        for i in range(boxes.shape[0]):
            face = Face(bbox=boxes[i, :4], kps=kpss[i], det_score=float(boxes[i, 4]))
            for task, model in tasks.items():
                if task != "detection" and (embed or task != "recognition"):
                    model.get(bgr, face)
            faces.append(self._to_detected(face, embedding_model))
        return faces

    def _to_detected(self, face: Any, embedding_model: Optional[str]) -> DetectedFace:
        landmarks = face.get("landmark_2d_106")
        embedding = face.normed_embedding
        return DetectedFace(
            box=tuple(float(v) for v in face.bbox),
            score=float(face.det_score),
            kps5=np.asarray(face.kps, np.float32),
            landmarks=None if landmarks is None else np.asarray(landmarks, np.float32),
            embedding=None if embedding is None else np.asarray(embedding, np.float32),
            embedding_model=embedding_model if embedding is not None else None,
            age=None if face.age is None else int(face.age),
            gender=None if face.gender is None else ("M" if int(face.gender) == 1 else "F"),
            detector=self.name,
        )


class InswapperModel:
    """insightface's INSwapper: aligned 128 crop of the target + ArcFace identity → swapped crop."""

    def __init__(self, path: Path, models: LoadedFaceModels) -> None:
        self.path = path
        self.swapper = models.get("inswapper", path, lambda p: load_onnx(p, models.providers))

    @property
    def size(self) -> int:
        return int(self.swapper.input_size[0])

    def swap_crop(self, rgb: np.ndarray, target: DetectedFace, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(swapped RGB crop, matrix image→crop) for ``target`` with the normalised ArcFace ``identity``."""
        from insightface.app.common import Face

        bgr = np.ascontiguousarray(rgb[..., ::-1])
        crop_bgr, matrix = self.swapper.get(bgr, as_insight_face(target), Face(embedding=identity), paste_back=False)
        return np.ascontiguousarray(crop_bgr[..., ::-1]), matrix
