"""FaceEngine: the one entry point for face detection and swapping (``ctx.faces``).

Created lazily by the context and cheap until used: models load on first use, into the shared
model cache. The backend is insightface when a pack exists under ``models/insightface/models/``,
else the built-in dlib models.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
from PIL import Image

from pipelines.device import DevicePolicy
from pipelines.faces import facemodels
from pipelines.faces.align import box_mask, paste_back
from pipelines.faces.builtin import BuiltinBackend
from pipelines.faces.classic import classic_swap
from pipelines.faces.errors import FaceError, NoFaceError
from pipelines.faces.facemodels import FaceModel
from pipelines.faces.insight import InsightBackend, InswapperModel
from pipelines.faces.layout import FaceModelLayout
from pipelines.faces.loaded import LoadedFaceModels
from pipelines.faces.order import order_faces
from pipelines.faces.restore import CODEFORMER_FIDELITY, FaceRestorer
from pipelines.faces.rotation import RotationSearch
from pipelines.faces.rotation import search as rotation_search
from pipelines.faces.swap import METHODS, PreparedSource, SwapOptions, SwapResult, Targets, pick_index, select_targets
from pipelines.faces.types import DetectedFace
from pipelines.models.cache import ModelCache
from pipelines.outputs import OutputWriter

ImageLike = Union[Image.Image, np.ndarray]
OUTPUT_OPERATION = "faces"
"""The operation a swap's provenance record names, and its folder under outputs/."""
BackendChoice = Literal["auto", "insightface", "builtin"]


def to_rgb(image: ImageLike) -> np.ndarray:
    """An HxWx3 uint8 RGB array from a PIL image (any mode) or an array (gray, RGB or RGBA)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise FaceError(f"expected an RGB image, got an array of shape {array.shape}")
    return np.ascontiguousarray(array[..., :3].astype(np.uint8, copy=False))


def _source_picture(image: ImageLike) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(to_rgb(image))


class FaceEngine:
    """Detect faces and swap them; every model comes from the models folder, nothing is downloaded."""

    def __init__(self, models_dir: Path, cache: ModelCache, policy: DevicePolicy, writer: OutputWriter) -> None:
        self.layout = FaceModelLayout(models_dir)
        self.cache = cache
        self.policy = policy
        self.writer = writer

    @functools.cached_property
    def models(self) -> LoadedFaceModels:
        return LoadedFaceModels(self.cache, self.policy.onnx_providers())

    @functools.cached_property
    def builtin(self) -> BuiltinBackend:
        return BuiltinBackend(self.models)

    def backend(self, choice: BackendChoice = "auto") -> Union[InsightBackend, BuiltinBackend]:
        """insightface when a pack is present (or asked for: then it must be), else built-in."""
        if choice == "builtin":
            return self.builtin
        pack = self.layout.require_pack() if choice == "insightface" else self.layout.pack()
        return InsightBackend(pack, self.models) if pack is not None else self.builtin

    def detect(self, image: ImageLike, order: str = "left-right", *, min_score: float = 0.5,
               embed: bool = True, backend: BackendChoice = "auto",
               rotation: RotationSearch = "fallback") -> list[DetectedFace]:
        """All faces in ``image`` scoring at least ``min_score`` (0..1), numbered by ``order`` (index = position).

        ``rotation``: search the image turned as well (:mod:`pipelines.faces.rotation`); the
        default looks at other angles only when no upright face is found.
        """
        chosen = self.backend(backend)
        faces = rotation_search(to_rgb(image), lambda rgb, floor: chosen.detect(rgb, min_score=max(min_score, floor),
                                                                                 embed=embed), rotation)
        return order_faces(faces, order)

    # -- swapping -------------------------------------------------------------------------------
    def swap_methods(self) -> list[str]:
        """Every method a user can pick: the built-in ones, then ``trained model: <name>`` per model of models/dfl."""
        from pipelines.dfl.faces_method import trained_methods

        return [*METHODS, *trained_methods(self.layout.models_dir)]

    @staticmethod
    def needs_source(method: str) -> bool:
        """False for a trained model (it holds the source person), True for every other method."""
        from pipelines.dfl.faces_method import trained_name

        return trained_name(method) is None

    def trained_swapper(self, name: str) -> Any:
        """The trained model's swapper, loaded once into the shared model cache."""
        from pipelines.dfl.faces_method import load_swapper, weights_file

        return self.models.get("dfl", weights_file(self.layout.models_dir, name),
                               lambda path: load_swapper(path, self.policy.device))

    def resolve_method(self, method: str) -> str:
        """``auto``: inswapper when its file and an insightface pack exist, else classic."""
        from pipelines.dfl.faces_method import trained_name

        if trained_name(method):
            self.trained_swapper(trained_name(method))
            return method
        if method not in METHODS:
            raise FaceError(f"unknown swap method {method!r}; use one of {', '.join(self.swap_methods())}")
        if method == "auto":
            return "inswapper" if self.layout.inswapper() and self.layout.pack() else "classic"
        if method == "inswapper":
            self.layout.require_inswapper()
            self.layout.require_pack()
        return method

    def prepare_source(self, source: Union[ImageLike, FaceModel, None], face_index: int = 0,
                       method: str = "auto") -> PreparedSource:
        """Detect and embed the source once; the result swaps into any number of images or frames.

        A ``trained model: <name>`` method holds its source person: ``source`` is not used (may be None).
        """
        from pipelines.dfl.faces_method import trained_name

        resolved = self.resolve_method(method)
        if trained_name(resolved):
            name = trained_name(resolved)
            return PreparedSource("trained", f"trained model {name}", trained=self.trained_swapper(name))
        if source is None:
            raise FaceError(f"The {resolved} method needs a source picture (or a saved face model).")
        if isinstance(source, FaceModel):
            if resolved != "inswapper":
                raise FaceError(f"Face model {source.name!r} holds an identity, not pixels: it needs the inswapper "
                                f"method ({self.layout.insightface_dir / 'inswapper_128.onnx'}).")
            self._check_family(source.embedding_model, "face model")
            return PreparedSource("inswapper", f"face model {source.name}", identity=source.embedding,
                                  embedding_model=source.embedding_model)
        rgb = to_rgb(source)
        faces = self.detect(rgb, embed=resolved == "inswapper")
        if not faces:
            raise NoFaceError("source")
        face = pick_index(faces, face_index, "source")
        label = f"source face {face_index}"
        if resolved == "inswapper":
            return PreparedSource("inswapper", label, identity=face.embedding, embedding_model=face.embedding_model)
        return PreparedSource("classic", label, rgb=rgb, landmarks68=self._landmarks68(rgb, face))

    def _check_family(self, embedding_model: str, what: str) -> None:
        """Identities compare only within one embedding family (ArcFace 512-d or dlib 128-d)."""
        targets = self.backend().embedding_model or "no recognizer"
        if embedding_model.split("/")[0] != targets.split("/")[0]:
            raise FaceError(f"The {what} was embedded by {embedding_model}, the target faces by {targets}: "
                            "they cannot be compared.")

    def _landmarks68(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        if face.landmarks is not None and len(face.landmarks) == 68:
            return face.landmarks
        return self.builtin.landmarks68(rgb, face.box)

    def _restorer(self, name: str) -> FaceRestorer:
        path = self.layout.require_restorer(name)
        return self.models.get("facerestore", path, lambda p: FaceRestorer(p, self.models.providers))

    def restore_all(self, image: ImageLike, restorer: str, weight: float = 1.0,
                    fidelity: float = CODEFORMER_FIDELITY) -> Image.Image:
        """Every face of ``image`` restored by the ``restorer`` file (generation's restore_faces, Extras);
        ``fidelity``: CodeFormer's weight."""
        rgb = to_rgb(image)
        model = self._restorer(restorer)
        for face in self.detect(rgb, embed=False):
            rgb = model.restore(rgb, face, weight, fidelity)
        return Image.fromarray(rgb)

    def swap_prepared(self, target: ImageLike, source: PreparedSource, options: SwapOptions = SwapOptions(),
                      faces: Optional[list[DetectedFace]] = None) -> SwapResult:
        """Swap ``source`` into ``target`` (an image or a video frame); ``faces`` skips detection (tracking)."""
        rgb = to_rgb(target)
        if faces is None:
            faces = self.detect(rgb, options.order, embed=options.reference is not None)
        if not faces:
            raise NoFaceError("target")
        chosen, notes = select_targets(faces, options)
        restorer = self._restorer(options.restore) if options.restore else None
        out = rgb
        for i in chosen:
            out = self._swap_one(out, faces[i], source, options)
            if restorer is not None:
                out = restorer.restore(out, faces[i], options.restore_weight)
        parts = [f"Face swap: {source.method}", source.label,
                 f"target faces {', '.join(map(str, chosen)) if chosen else 'none'}", f"mask {options.mask.describe()}"]
        if source.method == "classic":
            parts.append(f"blend {options.blend}")
        if restorer is not None:
            parts.append(f"restore {restorer.name} ({options.restore_weight:g})")
        parts.append(f"detector {faces[0].detector}")
        parts += notes
        return SwapResult(Image.fromarray(out), ", ".join(parts), source.method, chosen, faces)

    def _swap_one(self, rgb: np.ndarray, face: DetectedFace, source: PreparedSource, options: SwapOptions) -> np.ndarray:
        if source.method == "trained":
            from pipelines.dfl.faces_method import swap_face

            return swap_face(source.trained, rgb, self._landmarks68(rgb, face), options.mask)
        if source.method == "inswapper":
            swapper = InswapperModel(self.layout.require_inswapper(), self.models)
            patch, matrix = swapper.swap_crop(rgb, face, source.identity)
            mask = box_mask(swapper.size, options.mask.erosion, options.mask.blur) * options.mask.opacity
            return paste_back(rgb, patch, matrix, mask)
        return classic_swap(source.rgb, source.landmarks68, rgb, self._landmarks68(rgb, face), options.mask,
                            options.blend)

    def swap(self, source: Union[ImageLike, FaceModel, None], target: ImageLike, source_face_index: int = 0,
             target_face_indices: Targets = (0,), method: str = "auto",
             reference: Union[ImageLike, FaceModel, None] = None, save: bool = False, **options: Any) -> SwapResult:
        """One swap from images (or a saved face model); ``options`` are :class:`SwapOptions` fields.

        The result is stamped (invisible marks + provenance record naming the input pictures)
        whether or not it is saved, so an image returned over the API carries the same
        provenance as the copy on disk.
        """
        prepared = self.prepare_source(source, source_face_index, method)
        settings = SwapOptions(target_faces=target_face_indices, reference=self.reference_embedding(reference),
                               **options)
        result = self.swap_prepared(target, prepared, settings)
        pictures = [_source_picture(p) for p in (source, target, reference) if p is not None and not isinstance(p, FaceModel)]
        stamped = self.writer.stamp(result.image, OUTPUT_OPERATION, result.info, pictures)
        result.image, result.info = stamped.image, stamped.infotext or result.info
        if save:
            path = self.writer.save_labeled_stamped(stamped, OUTPUT_OPERATION, f"swap-{result.method}")
            result.info += f", saved {path.name}"
        return result

    def reference_embedding(self, reference: Union[ImageLike, FaceModel, None]) -> Optional[np.ndarray]:
        """The identity reference-face mode compares targets with (first face of a reference image)."""
        if reference is None:
            return None
        if isinstance(reference, FaceModel):
            self._check_family(reference.embedding_model, "reference face model")
            return reference.embedding
        faces = self.detect(reference, "size")
        if not faces:
            raise NoFaceError("reference")
        return faces[0].embedding

    def save(self, result: SwapResult) -> Path:
        """Write a swap result through the output writer under ``outputs/faces/<date>/``."""
        return self.writer.save_labeled(result.image, OUTPUT_OPERATION, f"swap-{result.method}", result.info)

    # -- face models ----------------------------------------------------------------------------
    def face_model_names(self) -> list[str]:
        return facemodels.names(self.layout.face_models_dir)

    def load_face_model(self, name: str) -> FaceModel:
        return facemodels.load(self.layout.face_models_dir, name)

    def save_face_model(self, name: str, images: list[ImageLike], face_index: int = 0) -> Path:
        """Blend face ``face_index`` of every image into one identity saved under ``models/faces/``."""
        faces = []
        for n, image in enumerate(images):
            found = self.detect(image)
            if not found:
                raise NoFaceError(f"face model #{n + 1}")
            faces.append(pick_index(found, face_index, f"face model #{n + 1}"))
        return facemodels.save(self.layout.face_models_dir, facemodels.blend(name, faces))
