"""Face restoration of finished images: ``restore_faces`` of txt2img / img2img and the Extras'
GFPGAN / CodeFormer visibility, with the ONNX restorers of ``models/facerestore``.

Which file: A1111's ``face_restoration_model`` option (or the Extras' family, "GFPGAN" /
"CodeFormer") matched against the file names, else the first file. With no file there is no
restorer, and the callers say so in their warnings instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from PIL import Image

if TYPE_CHECKING:
    from pipelines.faces.engine import FaceEngine

UNAVAILABLE = "{0}: no face restorer in {1} (GFPGAN / CodeFormer / GPEN .onnx); faces are not restored"


class FaceRestoration:
    """Chooses a restorer file and restores every face of an image with it (the Faces engine's models)."""

    def __init__(self, faces: Callable[[], "FaceEngine"], preferred: Callable[[], Optional[str]]) -> None:
        self._faces = faces  # lazy: the Faces engine loads nothing until a face is restored
        self._preferred = preferred

    def unavailable(self, what: str) -> str:
        """The warning for ``what`` (a request field) when no restorer file exists."""
        return UNAVAILABLE.format(what, self._faces().layout.restore_dir)

    def model(self, family: Optional[str] = None) -> Optional[str]:
        """The restorer file name to use, or None when ``models/facerestore`` holds none."""
        names = self._faces().layout.restorers()
        wanted = (family or self._preferred() or "").casefold()
        if wanted:
            for name in names:
                if name.casefold() == wanted or name.casefold().startswith(wanted):
                    return name
        return names[0] if names else None

    def restore(self, image: Image.Image, model: str, visibility: float = 1.0) -> Image.Image:
        """``image`` with every detected face restored by ``model``, blended at ``visibility``."""
        return self._faces().restore_all(image, model, visibility)
