"""Download a model file from an http(s) URL into the right ``models/`` folder.

Resumable: bytes go to ``<name>.part`` beside the destination; a restarted download asks the
server for the rest (HTTP ``Range``) and appends. The sha256, when given, is checked before the
``.part`` file is renamed into place in one atomic step, so a half-written or wrong file never
appears in the catalog. Destinations are refused when they would leave the models folder (``..``,
absolute names, or symlinks pointing out).

Each download runs on its own thread with a cancel flag, not on the context's JobQueue: that
queue serialises accelerator work, and a multi-gigabyte download must neither hold up every
generation nor wait behind them. A download needs no GPU, so nothing is gained by queueing it.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.message import Message
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

from pipelines.models.catalog import CHECKPOINT_DIR, CHECKPOINT_EXTENSIONS, VAE_DIR, VAE_EXTENSIONS
from pipelines.models.hashing import sha256_file
from pipelines.models.previews import OutsideModelsDirError, inside

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 30.0
PART_SUFFIX = ".part"
USER_AGENT = "Atelier model downloader"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_WEIGHTS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class DownloadKind:
    """A kind of model the user can download: its folder under ``models/`` and the file types it takes."""

    label: str
    folder: str
    extensions: tuple[str, ...]


DOWNLOAD_KINDS: dict[str, DownloadKind] = {kind.label: kind for kind in (
    DownloadKind("Checkpoint", CHECKPOINT_DIR, CHECKPOINT_EXTENSIONS),
    DownloadKind("LoRA", "Lora", (".safetensors", ".pt", ".ckpt")),
    DownloadKind("VAE", VAE_DIR, VAE_EXTENSIONS),
    DownloadKind("Embedding", "embeddings", (".pt", ".bin", ".safetensors")),
    DownloadKind("TAESD (live preview)", "VAE-taesd", _WEIGHTS),
    DownloadKind("Face model (insightface)", "insightface", (".onnx",)),
    DownloadKind("Deepfake detector", "detectors", (".onnx", *_WEIGHTS)),
)}


class DownloadError(Exception):
    """A download that cannot start or did not finish; the message says what to do."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the ``.part`` file is kept so a restart resumes."""


class DownloadState(str, Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class DownloadRequest:
    """What to fetch and where; checked by :func:`check_request` before any byte moves."""

    url: str
    kind: str
    filename: str = ""
    sha256: str = ""


# --------------------------------------------------------------------------------- validation


def check_url(url: str) -> str:
    """The URL stripped; DownloadError unless it is http(s) with a host."""
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"only http:// and https:// URLs can be downloaded, not {url!r}")
    return url


def check_sha256(value: str) -> str:
    """The expected sha256 in lower case ("" when none was given)."""
    value = (value or "").strip()
    if value and not _SHA256.match(value):
        raise DownloadError(f"sha256 must be 64 hex digits, got {value!r}")
    return value.lower()


def download_kind(label: str) -> DownloadKind:
    try:
        return DOWNLOAD_KINDS[label]
    except KeyError:
        raise DownloadError(f"unknown model kind {label!r}; choose one of: {', '.join(DOWNLOAD_KINDS)}") from None


def destination(models_dir: Path, kind: DownloadKind, filename: str) -> Path:
    """Where ``filename`` goes: a plain file name with the kind's extension, inside ``models/<folder>``."""
    name = (filename or "").strip()
    if not name or name in (".", "..") or any(ch in name for ch in "/\\\x00") or Path(name).is_absolute():
        raise DownloadError(f"refused file name {filename!r}: it must be a plain file name, no folders")
    if name.startswith("."):
        raise DownloadError(f"refused file name {filename!r}: hidden files are not listed as models")
    if not name.lower().endswith(kind.extensions):
        raise DownloadError(f"{name!r} is not a {kind.label} file; expected one of {', '.join(kind.extensions)}"
                            " (give the file name if the URL does not end with it)")
    try:
        return inside(models_dir, f"{kind.folder}/{name}")
    except OutsideModelsDirError as exc:
        raise DownloadError(f"refused: {exc} (a folder under models/ is a symlink pointing outside)") from None


def filename_from_response(url: str, headers: Message) -> str:
    """The server's file name (``Content-Disposition``, RFC 6266 ``filename*`` first), else the URL's last segment."""
    name = headers.get_filename() if headers is not None else None
    if name:
        return name.strip()
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


# ------------------------------------------------------------------------------------ transfer


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) (urllib would also follow one to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


def _open(url: str, offset: int = 0):  # type: ignore[no-untyped-def]
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return _OPENER.open(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return exc  # the caller decides: the part file may be complete or stale
        raise DownloadError(f"the server answered {exc.code} {exc.reason} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}") from None


def _content_range_start(value: Optional[str]) -> Optional[int]:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


@dataclass
class DownloadTask:
    """One download: progress for the UI, ``cancel()`` to stop it (the ``.part`` stays for a resume)."""

    request: DownloadRequest
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: DownloadState = DownloadState.RUNNING
    done_bytes: int = 0
    total_bytes: Optional[int] = None
    resumed_from: int = 0
    path: Optional[Path] = None
    error: Optional[str] = None
    started_at: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> Optional[float]:
        return self.done_bytes / self.total_bytes if self.total_bytes else None

    def cancel(self) -> None:
        self.cancelled.set()

    def wait(self, timeout: Optional[float] = None) -> Path:
        """The downloaded file; DownloadError (or DownloadCancelled) when it did not finish."""
        if not self.finished.wait(timeout):
            raise TimeoutError(f"download {self.id} still running after {timeout}s")
        if self.state is DownloadState.CANCELLED:
            raise DownloadCancelled(self.error or "cancelled")
        if self.error is not None or self.path is None:
            raise DownloadError(self.error or "download failed")
        return self.path


def fetch(task: DownloadTask, models_dir: Path, claim: Callable[[Path], None] = lambda target: None) -> Path:
    """Run ``task`` to the end in this thread (resuming a ``.part`` left by an earlier attempt).

    ``claim(target)`` is called once the destination is known; it raises to refuse a file that
    another download is already writing."""
    request, kind = task.request, download_kind(task.request.kind)
    url, expected = check_url(request.url), check_sha256(request.sha256)
    given = request.filename.strip()
    target = destination(models_dir, kind, given) if given else None
    offset = _part_size(target)
    response = _open(url, offset)
    if target is None:  # the name comes from the server; reopen with a Range if a part exists
        target = destination(models_dir, kind, filename_from_response(response.geturl(), response.headers))
        offset = _part_size(target)
        if offset:
            response.close()
            response = _open(url, offset)
    if target.exists():
        response.close()
        raise DownloadError(f"{target.name} already exists in {target.parent}; delete it first to download again")
    claim(target)
    task.path = target
    part = target.with_name(target.name + PART_SUFFIX)
    with response:
        offset = _resume_offset(response, offset)
        _transfer(task, response, part, offset)
    _verify(part, expected)
    os.replace(part, target)
    return target


def _part_size(target: Optional[Path]) -> int:
    if target is None:
        return 0
    part = target.with_name(target.name + PART_SUFFIX)
    return part.stat().st_size if part.is_file() else 0


def _resume_offset(response, offset: int) -> int:  # type: ignore[no-untyped-def]
    """Where writing starts: ``offset`` when the server honoured the Range, else 0 (start over)."""
    if not offset:
        return 0
    status = getattr(response, "status", None) or response.getcode()
    if status == 206 and _content_range_start(response.headers.get("Content-Range")) == offset:
        return offset
    if status == 416:
        raise DownloadError("the server cannot resume this download (the partial file does not match); "
                            "delete the .part file and start again")
    return 0


def _transfer(task: DownloadTask, response, part: Path, offset: int) -> None:  # type: ignore[no-untyped-def]
    length = response.headers.get("Content-Length")
    remaining = int(length) if length and length.isdigit() else None
    task.resumed_from = offset
    task.done_bytes = offset
    task.total_bytes = offset + remaining if remaining is not None else None
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "ab" if offset else "wb") as sink:
        while True:
            if task.cancelled.is_set():
                raise DownloadCancelled(f"cancelled at {task.done_bytes} bytes; start it again to resume")
            try:
                chunk = response.read1(CHUNK)  # what has arrived: progress and cancel stay live
            except (OSError, ValueError, http.client.HTTPException) as exc:  # IncompleteRead, reset…
                log.info("download of %s dropped: %s", task.request.url, exc)
                chunk = b""
            if not chunk:
                break
            sink.write(chunk)
            task.done_bytes += len(chunk)
        sink.flush()
        os.fsync(sink.fileno())
    if task.total_bytes is not None and task.done_bytes < task.total_bytes:
        raise DownloadError(f"the connection dropped after {task.done_bytes} of {task.total_bytes} bytes; "
                            "start the download again to resume it")


def _verify(part: Path, expected: str) -> None:
    """Compare the finished file with the expected sha256; a mismatch deletes it."""
    if not expected:
        return
    actual = sha256_file(part)
    if actual != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(f"sha256 mismatch: expected {expected}, got {actual}; the file was removed")


# ------------------------------------------------------------------------------------- manager


class DownloadManager:
    """Starts downloads on their own threads, remembers them by id, and calls ``on_complete``
    (e.g. a catalog refresh) after each file lands."""

    def __init__(self, models_dir: Path, on_complete: Optional[Callable[[Path], None]] = None) -> None:
        self.models_dir = models_dir
        self.on_complete = on_complete
        self._tasks: dict[str, DownloadTask] = {}
        self._writing: set[Path] = set()
        self._lock = threading.Lock()

    def start(self, request: DownloadRequest) -> DownloadTask:
        """Check the request now (bad input raises DownloadError here), then download in the background."""
        check_url(request.url)
        check_sha256(request.sha256)
        kind = download_kind(request.kind)
        if request.filename.strip():
            destination(self.models_dir, kind, request.filename)
        task = DownloadTask(request)
        with self._lock:
            self._tasks[task.id] = task
        threading.Thread(target=self._run, args=(task,), name=f"atelier-download-{task.id}", daemon=True).start()
        return task

    def get(self, task_id: str) -> Optional[DownloadTask]:
        with self._lock:
            return self._tasks.get(task_id)

    def _run(self, task: DownloadTask) -> None:
        try:
            path = fetch(task, self.models_dir, self._claim)
            log.info("downloaded %s (%d bytes)", path, task.done_bytes)
            self._announce(path)
            task.state = DownloadState.DONE
        except DownloadCancelled as exc:
            task.state, task.error = DownloadState.CANCELLED, str(exc)
        except DownloadError as exc:
            task.state, task.error = DownloadState.FAILED, str(exc)
        except Exception as exc:  # the thread must always report back
            log.exception("download %s failed", task.id)
            task.state, task.error = DownloadState.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._writing.discard(task.path)
            task.finished.set()

    def _claim(self, target: Path) -> None:
        with self._lock:
            if target in self._writing:
                raise DownloadError(f"{target.name} is already being downloaded")
            self._writing.add(target)

    def _announce(self, path: Path) -> None:
        """Tell the catalogs; the file is in place, so a failing refresh is logged, not a failed download."""
        if self.on_complete is None:
            return
        try:
            self.on_complete(path)
        except Exception:
            log.exception("refresh after downloading %s failed", path)
