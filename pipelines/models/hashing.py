"""A1111-compatible model hashes, with a cache so a rescan never rehashes an unchanged file.

A1111 shows ``Model hash`` as the first 10 hex digits of the file's sha256 ("shorthash") and
older infotexts carry the legacy 8-digit hash of 64 KiB read at offset 1 MiB.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Optional

from pipelines.fileio import atomic_write_text, read_json_object, set_aside

_CHUNK = 1 << 20
LEGACY_OFFSET = 0x100000
LEGACY_LENGTH = 0x10000


def sha256_file(path: Path) -> str:
    """Full sha256 of a file, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def legacy_model_hash(path: Path) -> str:
    """A1111's old 8-digit hash: sha256 of 64 KiB starting at offset 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(LEGACY_OFFSET)
        digest.update(handle.read(LEGACY_LENGTH))
    return digest.hexdigest()[:8]


def short_hash(sha256: str) -> str:
    """The 10-digit form A1111 shows in titles and infotext."""
    return sha256[:10]


def addnet_hash_safetensors(path: Path) -> str:
    """sha256 of a safetensors file's tensor data (everything after the header).

    This is the hash kohya's sd-scripts and A1111 write into ``Lora hashes`` (first 12 digits).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        handle.seek(8 + header_len)
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _valid_entry(entry: object) -> bool:
    """A cache entry as :meth:`HashCache.sha256` writes it."""
    return (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int) and isinstance(entry.get("mtime"), (int, float)))


class HashCache:
    """sha256 values keyed by absolute path, valid while the file's size and mtime are unchanged.

    Persisted as JSON in the data dir; safe to use from several threads. A damaged file is moved
    aside (``problem`` says so) and its valid entries are kept: hashes are only recomputed.
    """

    def __init__(self, cache_file: Path) -> None:
        self._file = cache_file
        self._lock = threading.Lock()
        self.problem: Optional[str] = None
        self._entries: dict[str, dict] = self._read()

    def _read(self) -> dict[str, dict]:
        data, self.problem = read_json_object(self._file)
        entries = {key: entry for key, entry in data.items() if _valid_entry(entry)}
        if len(entries) != len(data):
            bad = next(key for key in data if key not in entries)
            self.problem = set_aside(self._file, f"{len(data) - len(entries)} invalid entries, e.g. {bad[:200]!r}")
        return entries

    @staticmethod
    def _stamp(path: Path) -> tuple[int, float]:
        stat = path.stat()
        return stat.st_size, stat.st_mtime

    def cached(self, path: Path) -> Optional[str]:
        """The cached sha256 of ``path`` if the file has not changed since it was hashed."""
        key = str(path.resolve())
        with self._lock:
            entry = self._entries.get(key)
        if not entry:
            return None
        try:
            size, mtime = self._stamp(path)
        except OSError:
            return None
        if entry.get("size") == size and entry.get("mtime") == mtime:
            return entry.get("sha256")
        return None

    def sha256(self, path: Path) -> str:
        """sha256 of ``path``, from the cache when valid, else computed and stored."""
        hit = self.cached(path)
        if hit:
            return hit
        size, mtime = self._stamp(path)
        value = self._compute(path)
        with self._lock:
            self._entries[str(path.resolve())] = {"size": size, "mtime": mtime, "sha256": value}
            self._save_locked()
        return value

    def _compute(self, path: Path) -> str:
        """The hash this cache stores (subclasses store other kinds of file hash)."""
        return sha256_file(path)

    def _save_locked(self) -> None:
        atomic_write_text(self._file, json.dumps(self._entries, indent=1, sort_keys=True))
