"""Face restoration of finished images: ``restore_faces`` of txt2img / img2img and the Extras'
GFPGAN / CodeFormer visibility, with the ONNX restorers of ``models/facerestore``.

Which file: A1111's ``face_restoration_model`` option (or the Extras' family, "GFPGAN" /
"CodeFormer") matched against the file names, else the first file. With no file there is no
restorer, and the callers say so in their warnings instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from PIL import Image

from pipelines.faces.restore import CODEFORMER_FIDELITY

if TYPE_CHECKING:
    from pipelines.faces.engine import FaceEngine

FAMILIES = ("CodeFormer", "GFPGAN")  # A1111's face restorer names
UNAVAILABLE = "{0}: no face restorer in {1} (GFPGAN / CodeFormer / GPEN .onnx); faces are not restored"


class FaceRestoration:
    """Chooses a restorer file and restores every face of an image with it (the Faces engine's models)."""

    def __init__(self, faces: Callable[[], "FaceEngine"], preferred: Callable[[], Optional[str]],
                 fidelity: Callable[[], float] = lambda: CODEFORMER_FIDELITY) -> None:
        self._faces = faces  # lazy: the Faces engine loads nothing until a face is restored
        self._preferred = preferred
        self._fidelity = fidelity  # A1111's code_former_weight option: restore_faces' CodeFormer weight

    def unavailable(self, what: str) -> str:
        """The warning for ``what`` (a request field) when no restorer file exists."""
        return UNAVAILABLE.format(what, self._faces().layout.restore_dir)

    def model(self, family: Optional[str] = None) -> Optional[str]:
        """The restorer file name to use, or None when ``models/facerestore`` holds none: the
        file named (or of the family named, "CodeFormer" matching ``codeformer-v0.1.onnx``),
        else the first file."""
        names = self._faces().layout.restorers()
        wanted = (family or self._preferred() or "").casefold()
        if wanted:
            for name in sorted(names, key=lambda n: n.casefold() != wanted):  # an exact name first
                if wanted in name.casefold():
                    return name
        return names[0] if names else None

    def names(self) -> list[str]:
        """What A1111's ``GET /sdapi/v1/face-restorers`` lists: "CodeFormer" / "GFPGAN" for
        the files of those families (the names clients send back), other files by name."""
        listed: list[str] = []
        for name in self._faces().layout.restorers():
            family = next((f for f in FAMILIES if f.casefold() in name.casefold()), name)
            if family not in listed:
                listed.append(family)
        return listed

    def restore(self, image: Image.Image, model: str, visibility: float = 1.0,
                fidelity: Optional[float] = None) -> Image.Image:
        """``image`` with every detected face restored by ``model``, blended at ``visibility``;
        ``fidelity`` is CodeFormer's weight (0 strongest restoration, 1 closest to the input;
        None: the ``code_former_weight`` setting)."""
        return self._faces().restore_all(image, model, visibility,
                                         self._fidelity() if fidelity is None else fidelity)
