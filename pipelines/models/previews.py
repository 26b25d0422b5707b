"""Preview images that sit next to model files, and the one safe way to hand them out.

Convention (A1111 / civitai helper): ``<stem>.png`` or ``<stem>.preview.png`` (also jpg, jpeg,
webp, gif) beside ``<stem>.safetensors``. Files are served by path relative to the models
folder, and only when that path stays inside it and names an image, so the preview route can
never return a model's weights or anything outside ``models/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

PREVIEW_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")


class OutsideModelsDirError(ValueError):
    """A path that leaves the models folder (``..``, an absolute name, or a symlink pointing out)."""


def find_preview(model_path: Path) -> Optional[Path]:
    """The preview image of a model file, A1111's order: per extension, ``<stem>.ext`` then
    ``<stem>.preview.ext``."""
    base = model_path.with_suffix("")
    for ext in PREVIEW_EXTENSIONS:
        for candidate in (base.with_name(base.name + ext), base.with_name(base.name + ".preview" + ext)):
            if candidate.is_file():
                return candidate
    return None


def inside(root: Path, relative: str) -> Path:
    """``root / relative`` resolved (symlinks followed); OutsideModelsDirError if it leaves ``root``."""
    if not relative or Path(relative).is_absolute() or "\x00" in relative:
        raise OutsideModelsDirError(f"{relative!r} is not a path inside {root}")
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise OutsideModelsDirError(f"{relative!r} leaves {root}")
    return target


def relative_to_root(path: Path, root: Path) -> Optional[str]:
    """``path`` as a posix path relative to ``root`` (both resolved), or None when it is outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def preview_file(models_dir: Path, relative: str) -> Path:
    """The image file a preview URL names; FileNotFoundError unless it is an image inside ``models_dir``."""
    target = inside(models_dir, relative)
    if target.suffix.lower() not in PREVIEW_EXTENSIONS or not target.is_file():
        raise FileNotFoundError(f"no preview image {relative!r}")
    return target
