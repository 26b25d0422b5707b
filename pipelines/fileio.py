"""Crash-safe file writes: a reader sees the old file or the new one, never half of one.

Also the other side of that promise: data files that are damaged anyway (a hand edit, a disk
error) are moved aside with a reason instead of stopping start-up, and the hidden temp files
a killed process left behind are removed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Optional

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def _read_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-and-restore (at import, before threads)
    os.umask(mask)
    return mask


# Read once at import: files are created with the user's umask, as open() would.
FILE_MODE = 0o666 & ~_read_umask()


@contextmanager
def atomic_open(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success it replaces ``path`` in one rename.

    The file gets the permissions a plain ``open()`` would give (``mkstemp`` makes it 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


# atomic_open's temp names: "." + the file's name + "." + mkstemp's 8 characters + ".tmp", for
# the kinds of file output folders hold (a user may point one at a folder with others' files)
_STALE_TEMP = re.compile(r"^\..+\.(png|jpe?g|webp|gif|txt|json|csv|mp4|webm|mov|mkv)\.[a-z0-9_]{8}\.tmp$",
                         re.IGNORECASE)


def is_stale_temp(path: Path) -> bool:
    """True for the hidden ``.<name>.XXXXXXXX.tmp`` file of an atomic write that never finished."""
    return bool(_STALE_TEMP.match(path.name))


def remove_stale_temp_files(root: Path, depth: int = 3) -> int:
    """Delete the temp files that interrupted atomic writes left in ``root`` and its folders
    down to ``depth`` levels (outputs are ``<root>/<kind>/<date>/file``); the count.

    Call at start-up only, before anything writes there."""
    removed = 0
    folders = [(root, 0)]
    while folders:
        folder, level = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if level < depth:
                    folders.append((Path(entry.path), level + 1))
            elif entry.is_file(follow_symlinks=False) and is_stale_temp(Path(entry.name)):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError as exc:
                    log.warning("could not remove the stale temp file %s: %s", entry.path, exc)
    if removed:
        log.info("removed %d unfinished temp file(s) of interrupted writes under %s", removed, root)
    return removed


def set_aside(path: Path, reason: str) -> str:
    """Rename a damaged data file to ``<stem>.broken-<time><suffix>`` (kept for the user, never
    overwritten) and return the notice saying so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.broken-{stamp}{path.suffix}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.stem}.broken-{stamp}-{counter}{path.suffix}")
        counter += 1
    try:
        path.replace(target)
    except OSError as exc:
        notice = f"{path} is damaged ({reason}) and could not be moved aside ({exc}); using defaults"
    else:
        notice = f"{path} is damaged ({reason}); it was moved to {target.name} and defaults are used"
    log.warning(notice)
    return notice


_JSON_TYPES = {type(None): "null", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def read_json_object(path: Path) -> tuple[dict[str, Any], Optional[str]]:
    """``(object, None)`` from a JSON data file; ``({}, None)`` when there is none yet; and
    ``({}, notice)`` when it is not a JSON object (truncated, hand-edited): the file is then
    moved aside by :func:`set_aside` so start-up goes on with defaults."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        return {}, set_aside(path, f"unreadable: {exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {}, set_aside(path, f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        return {}, set_aside(path, f"a JSON {_JSON_TYPES.get(type(data), 'value')}, not an object")
    return data, None
