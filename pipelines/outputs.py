"""Writing generated images: numbered names, infotext in the file, atomic writes."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Mapping, Optional

from PIL import Image, PngImagePlugin

from pipelines.fileio import atomic_open

FORMATS = ("png", "jpg", "webp")
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_NUMBER = re.compile(r"^(\d{5})-")


def _slug(text: str, limit: int = 80) -> str:
    text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r'[\\/:*?"<>|\r\n\t]+', " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit].rstrip(" .")


def encode_image(image: Image.Image, fmt: str, infotext: Optional[str], metadata: Mapping[str, str]) -> tuple[bytes, str]:
    """Encode ``image`` with the infotext where A1111 puts it (PNG text / EXIF UserComment)."""
    import io

    buffer = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if infotext:
            info.add_text("parameters", infotext)
        for key, value in metadata.items():
            info.add_text(key, value)
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue(), ".png"
    exif = Image.Exif()
    if infotext:
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\0" + infotext.encode("utf-16be")
    if fmt == "jpg":
        image.convert("RGB").save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
        return buffer.getvalue(), ".jpg"
    if fmt == "webp":
        image.save(buffer, format="WEBP", quality=95, exif=exif.tobytes())
        return buffer.getvalue(), ".webp"
    raise ValueError(f"unknown image format {fmt!r}; use one of {', '.join(FORMATS)}")


@dataclass
class OutputWriter:
    """Saves images under ``<root>/<kind>-images/<date>/NNNNN-seed-prompt.ext``."""

    root: Path
    fmt: str = "png"
    save_infotext: bool = True
    # Per-folder overrides keyed "<kind>-images" / "<kind>-grids" (A1111's outdir_* settings)
    folders: dict[str, Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def base_folder(self, name: str) -> Path:
        """``<root>/<name>`` unless a setting points ``name`` (e.g. "txt2img-images") elsewhere."""
        return self.folders.get(name) or self.root / name

    def folder(self, kind: str) -> Path:
        return self.base_folder(f"{kind}-images") / date.today().isoformat()

    def grid_folder(self, kind: str) -> Path:
        return self.base_folder(f"{kind}-grids") / date.today().isoformat()

    def save(
        self,
        image: Image.Image,
        kind: str,
        *,
        seed: int,
        prompt: str,
        infotext: Optional[str],
        metadata: Optional[Mapping[str, str]] = None,
    ) -> Path:
        """Save one generated image as ``NNNNN-seed-prompt.ext``."""
        slug = _slug(prompt)
        return self._write(self.folder(kind), f"{seed}-{slug}" if slug else str(seed), image, infotext, metadata)

    def save_named(self, image: Image.Image, kind: str, name: str, *, infotext: Optional[str],
                   metadata: Optional[Mapping[str, str]] = None) -> Path:
        """Save a processed image as ``<kind>-images/<date>/NNNNN-<name>.ext`` (the Extras tab
        keeps the input's name, as A1111)."""
        return self._write(self.folder(kind), _slug(name) or kind, image, infotext, metadata)

    def save_grid(self, image: Image.Image, kind: str, infotext: Optional[str], label: str = "grid") -> Path:
        """Save a script's grid as ``<kind>-grids/<date>/NNNNN-<label>.ext`` (A1111's grid folder)."""
        return self._write(self.grid_folder(kind), label, image, infotext, None)

    def save_labeled(self, image: Image.Image, folder: str, label: str, infotext: Optional[str]) -> Path:
        """Save a non-generated output (a face swap, ...) as ``<folder>/<date>/NNNNN-<label>.ext``."""
        return self._write(self.base_folder(folder) / date.today().isoformat(), _slug(label) or "image", image,
                           infotext, None)

    def save_numbered(self, image: Image.Image, folder: Path, label: str, infotext: Optional[str]) -> Path:
        """Save into any ``folder`` as ``NNNNN-<label>.ext`` (the "Save" button's saved/ folder)."""
        return self._write(folder, label, image, infotext, None)

    def save_exactly(self, image: Image.Image, folder: Path, stem: str, infotext: Optional[str]) -> Path:
        """Save as exactly ``<folder>/<stem>.ext``, replacing it (img2img batch keeps input names)."""
        data, ext = encode_image(image, self.fmt, infotext if self.save_infotext else None, {})
        path = folder / f"{stem}{ext}"
        with atomic_open(path, "wb") as handle:
            handle.write(data)
        return path

    def _write(self, folder: Path, suffix: str, image: Image.Image, infotext: Optional[str],
               metadata: Optional[Mapping[str, str]]) -> Path:
        data, ext = encode_image(image, self.fmt, infotext if self.save_infotext else None, metadata or {})
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self._next_number(folder):05d}-{suffix}{ext}"
            with atomic_open(path, "wb") as handle:
                handle.write(data)
        return path

    @staticmethod
    def _next_number(folder: Path) -> int:
        numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBER.match(p.name))]
        return max(numbers, default=-1) + 1


def read_infotext(image: Image.Image) -> Optional[str]:
    """The A1111 infotext stored in an image (PNG ``parameters`` or EXIF UserComment)."""
    text = image.info.get("parameters")
    if isinstance(text, str):
        return text
    raw = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    if isinstance(raw, bytes):
        if raw.startswith(b"UNICODE\0"):
            body = raw[8:]
            for codec in ("utf-16be", "utf-16le"):
                try:
                    return body.decode(codec)
                except UnicodeDecodeError:
                    continue
        return raw.split(b"\0", 1)[-1].decode("utf-8", "replace")
    return None
