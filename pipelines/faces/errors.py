"""Errors the Faces engine raises for things a person can fix (the UI and API show the message)."""

from __future__ import annotations

from pathlib import Path


class FaceError(ValueError):
    """Bad input to a face operation (no face found, index out of range, wrong model kind)."""


class NoFaceError(FaceError):
    """No face was found in the named image."""

    def __init__(self, which: str) -> None:
        super().__init__(f"No face found in the {which} image.")
        self.which = which


class MissingModelError(FaceError):
    """A model file the chosen method needs is not on disk; the message names file and folder."""

    def __init__(self, what: str, files: list[str], folder: Path) -> None:
        names = " or ".join(files)
        super().__init__(f"{what} needs {names} in {folder} (nothing is downloaded: copy the file there).")
        self.files = files
        self.folder = folder
