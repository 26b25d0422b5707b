"""Writing generated images: numbered names, infotext and provenance in the file, atomic writes.

Every image Atelier writes passes through :class:`OutputWriter` (txt2img, img2img, grids,
extras, faces): this is where the invisible provenance marks are applied and the provenance
record is stored, so no feature can forget them.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Mapping, Optional

from PIL import Image, PngImagePlugin

from pipelines.events import EventHub, ImageSaved
from pipelines.fileio import atomic_open
from pipelines.provenance.metadata import png_chunks, read_record, xmp_packet
from pipelines.provenance.record import ProvenanceRecord, Source
from pipelines.provenance.stamp import Stamped, stamp

if TYPE_CHECKING:
    from pipelines.provenance.c2pa_signer import C2paSigner

log = logging.getLogger(__name__)

FORMATS = ("png", "jpg", "webp")
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_NUMBER = re.compile(r"^(\d{5})-")


def _slug(text: str, limit: int = 80) -> str:
    text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r'[\\/:*?"<>|\r\n\t]+', " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit].rstrip(" .")


def encode_image(image: Image.Image, fmt: str, infotext: Optional[str], metadata: Mapping[str, str],
                 record: Optional[ProvenanceRecord] = None) -> tuple[bytes, str]:
    """Encode ``image`` with the infotext where A1111 puts it (PNG text / EXIF UserComment)
    and the provenance record (``record``, else the one a stamp attached to the image) in a
    PNG iTXt chunk + XMP, or XMP for JPEG / WebP."""
    import io

    record = record or read_record(image)
    buffer = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if infotext:
            info.add_text("parameters", infotext)
        for key, value in metadata.items():
            info.add_text(key, value)
        for key, value in (png_chunks(record) if record else {}).items():
            info.add_itxt(key, value)
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue(), ".png"
    exif = Image.Exif()
    if infotext:
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\0" + infotext.encode("utf-16be")
    xmp = {"xmp": xmp_packet(record).encode("utf-8")} if record else {}
    if fmt == "jpg":
        image.convert("RGB").save(buffer, format="JPEG", quality=95, exif=exif.tobytes(), **xmp)
        return buffer.getvalue(), ".jpg"
    if fmt == "webp":
        image.save(buffer, format="WEBP", quality=95, exif=exif.tobytes(), **xmp)
        return buffer.getvalue(), ".webp"
    raise ValueError(f"unknown image format {fmt!r}; use one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class PostprocessInfo:
    """What a post-processor knows about the image it may change before it is marked and written."""

    operation: str
    """txt2img, img2img, txt2img-grid, extras, faces, ..."""
    infotext: Optional[str]


Postprocessor = Callable[[Image.Image, PostprocessInfo], Image.Image]


@dataclass
class OutputWriter:
    """Saves images under ``<root>/<kind>-images/<date>/NNNNN-seed-prompt.ext``, each stamped
    with the provenance marks (unless ``provenance_marks`` is off) and record."""

    root: Path
    fmt: str = "png"
    save_infotext: bool = True
    # Per-folder overrides keyed "<kind>-images" / "<kind>-grids" (A1111's outdir_* settings)
    folders: dict[str, Path] = field(default_factory=dict)
    provenance_marks: bool = True
    sdxl_mark: bool = True
    """The SDXL-compatible watermark besides Atelier's own (images; see ``sdxl_mark_video``)."""
    sdxl_mark_video: bool = False
    """The SDXL-compatible watermark in video frames: off by default, it never survives h264."""
    c2pa: Optional["C2paSigner"] = None
    """Signs every written file with a C2PA manifest when set (setting ``c2pa_sign``)."""
    postprocessors: dict[str, Postprocessor] = field(default_factory=dict)
    """Run in order on every image before it is marked (extensions' post-processing step),
    keyed by who registered each, so a re-registration replaces rather than doubles."""
    events: Optional[EventHub] = None
    """Told ``image_saved`` after every write."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def base_folder(self, name: str) -> Path:
        """``<root>/<name>`` unless a setting points ``name`` (e.g. "txt2img-images") elsewhere."""
        return self.folders.get(name) or self.root / name

    def folder(self, kind: str) -> Path:
        return self.base_folder(f"{kind}-images") / date.today().isoformat()

    def grid_folder(self, kind: str) -> Path:
        return self.base_folder(f"{kind}-grids") / date.today().isoformat()

    def stamp(self, image: Image.Image, operation: str, infotext: Optional[str] = None,
              sources: Iterable[Source] = ()) -> Stamped:
        """Mark ``image`` and build its provenance record, once. Callers that also show or
        return the image (the engine's gallery and API results) stamp first and then
        :meth:`save_stamped`, so what users see is what is on disk. Post-processors run first,
        so the marks cover their changes."""
        image = self._postprocess(image, PostprocessInfo(operation, infotext))
        return stamp(image, operation, infotext=infotext, sources=sources, marks=self.provenance_marks,
                     sdxl=self.sdxl_mark)

    def _postprocess(self, image: Image.Image, info: PostprocessInfo) -> Image.Image:
        for fn in list(self.postprocessors.values()):
            try:
                image = fn(image, info)
            except Exception:  # noqa: BLE001 - an extension's bug must never lose the image
                log.exception("image post-processor %s failed; image kept as it was",
                              getattr(fn, "__qualname__", fn))
        return image

    def save(
        self,
        image: Image.Image,
        kind: str,
        *,
        seed: int,
        prompt: str,
        infotext: Optional[str],
        metadata: Optional[Mapping[str, str]] = None,
        operation: Optional[str] = None,
        sources: Iterable[Source] = (),
    ) -> Path:
        """Stamp and save one image as ``NNNNN-seed-prompt.ext``; ``operation`` (default
        ``kind``) and the ``sources`` it was made from go into the provenance record."""
        stamped = self.stamp(image, operation or kind, infotext, sources)
        return self.save_stamped(stamped, kind, seed=seed, prompt=prompt, metadata=metadata)

    def save_stamped(self, stamped: Stamped, kind: str, *, seed: int, prompt: str,
                     metadata: Optional[Mapping[str, str]] = None) -> Path:
        """Save an image :meth:`stamp` already marked, as ``NNNNN-seed-prompt.ext``."""
        slug = _slug(prompt)
        return self._write(self.folder(kind), f"{seed}-{slug}" if slug else str(seed), stamped, metadata)

    def save_named(self, image: Image.Image, kind: str, name: str, *, infotext: Optional[str],
                   metadata: Optional[Mapping[str, str]] = None, sources: Iterable[Source] = ()) -> Path:
        """Stamp and save a processed image as ``<kind>-images/<date>/NNNNN-<name>.ext`` (the
        Extras tab keeps the input's name, as A1111); ``sources`` are hashed into its record."""
        return self._write(self.folder(kind), _slug(name) or kind, self.stamp(image, kind, infotext, sources), metadata)

    def save_grid(self, image: Image.Image, kind: str, infotext: Optional[str], label: str = "grid",
                  stamped: Optional[Stamped] = None) -> Path:
        """Save a grid as ``<kind>-grids/<date>/NNNNN-<label>.ext`` (A1111's grid folder);
        ``stamped``: the grid as already marked for returning it, saved as it is."""
        return self._write(self.grid_folder(kind), label, stamped or self.stamp(image, f"{kind}-grid", infotext), None)

    def labeled_folder(self, folder: str) -> Path:
        """Where non-generated outputs (face swaps, ...) go: ``<folder>/<date>/``."""
        return self.base_folder(folder) / date.today().isoformat()

    def save_labeled(self, image: Image.Image, folder: str, label: str, infotext: Optional[str], *,
                     operation: Optional[str] = None, sources: Iterable[Source] = ()) -> Path:
        """Stamp and save a non-generated output (a face swap, ...) as
        ``<folder>/<date>/NNNNN-<label>.ext``; ``operation`` defaults to ``folder``."""
        return self.save_labeled_stamped(self.stamp(image, operation or folder, infotext, sources), folder, label)

    def save_labeled_stamped(self, stamped: Stamped, folder: str, label: str) -> Path:
        """Save an output :meth:`stamp` already marked as ``<folder>/<date>/NNNNN-<label>.ext``
        (an API result: what the client receives is what is on disk)."""
        return self._write(self.labeled_folder(folder), _slug(label) or "image", stamped, None)

    def save_numbered(self, image: Image.Image, folder: Path, label: str, infotext: Optional[str]) -> Path:
        """Save into any ``folder`` as ``NNNNN-<label>.ext`` (the "Save" button's saved/ folder)."""
        return self._write(folder, label, self._saved_again(image, "saved", infotext), None)

    def save_exactly(self, image: Image.Image, folder: Path, stem: str, infotext: Optional[str]) -> Path:
        """Save as exactly ``<folder>/<stem>.ext``, replacing it (img2img batch keeps input names)."""
        stamped = self._saved_again(image, "img2img", infotext)
        data, ext = encode_image(stamped.image, self.fmt, stamped.infotext if self.save_infotext else None, {},
                                 stamped.record)
        data = self._signed(data, ext, stamped, stem)
        path = folder / f"{stem}{ext}"
        with atomic_open(path, "wb") as handle:
            handle.write(data)
        self._saved(path, stamped)
        return path

    def _saved_again(self, image: Image.Image, operation: str, infotext: Optional[str]) -> Stamped:
        """An engine result (already stamped: its record rides in ``image.info``) keeps its
        marks and record; anything else is stamped as ``operation``."""
        record = read_record(image)
        if record is None:
            return self.stamp(image, operation, infotext)
        return Stamped(image, record, infotext)

    def _write(self, folder: Path, suffix: str, stamped: Stamped, metadata: Optional[Mapping[str, str]]) -> Path:
        infotext = stamped.infotext if self.save_infotext else None
        data, ext = encode_image(stamped.image, self.fmt, infotext, metadata or {}, stamped.record)
        data = self._signed(data, ext, stamped, suffix)
        with self._lock:
            make_output_folder(folder)
            path = self._numbered(folder, suffix, ext)
            with atomic_open(path, "wb") as handle:
                handle.write(data)
        self._saved(path, stamped)
        return path

    def _signed(self, data: bytes, ext: str, stamped: Stamped, title: str) -> bytes:
        """``data`` with a signed C2PA manifest when signing is on; unsigned (and logged) if
        signing fails, so an output is never lost to it."""
        if self.c2pa is None:
            return data
        from pipelines.imagefile import open_image_bytes

        ingredients = [open_image_bytes(s) if isinstance(s, (bytes, bytearray)) else s for s in stamped.sources]
        try:
            return self.c2pa.sign(data, ext, stamped.record, f"{title}{ext}", ingredients)
        except Exception:  # noqa: BLE001 - the native library reports failures in many ways
            log.exception("C2PA signing failed; %s written without a manifest", title)
            return data

    def save_stream(self, folder: str, label: str, ext: str, write: Callable[[IO[bytes]], None]) -> Path:
        """Save a file that an encoder streams itself (a video) as ``<folder>/<date>/NNNNN-label.ext``.

        ``write`` gets a binary handle on a hidden staging file; only a complete file takes the
        next number (under the lock, so a concurrent image save never gets the same one).
        """
        folder_path = make_output_folder(self.labeled_folder(folder))
        staging = folder_path / f".{uuid.uuid4().hex}{ext}"
        with atomic_open(staging, "wb") as handle:
            write(handle)
        with self._lock:
            path = self._numbered(folder_path, _slug(label) or "output", ext)
            staging.replace(path)
        return path

    def _numbered(self, folder: Path, suffix: str, ext: str) -> Path:
        return folder / f"{self._next_number(folder):05d}-{suffix}{ext}"

    def _saved(self, path: Path, stamped: Stamped) -> None:
        if self.events is not None:
            self.events.emit("image_saved", ImageSaved(path, stamped.record.operation, stamped.infotext))

    @staticmethod
    def _next_number(folder: Path) -> int:
        numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBER.match(p.name))]
        return max(numbers, default=-1) + 1


class OutputFolderError(ValueError):
    """An output folder cannot be made (a file is in its way): the user must change a setting."""


def make_output_folder(folder: Path) -> Path:
    """``folder`` created if needed; a file in its way is an :class:`OutputFolderError` naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise OutputFolderError(f"cannot save into {folder}: {blocker} is a file, not a folder; choose another "
                                "output folder in Settings (outdir_*)") from None
    return folder


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
        if raw[:8] in (b"ASCII\0\0\0", b"JIS\0\0\0\0\0", b"\0" * 8):  # EXIF's 8-byte character code
            return raw[8:].rstrip(b"\0").decode("utf-8", "replace")
        return raw.split(b"\0", 1)[-1].decode("utf-8", "replace")
    return None
