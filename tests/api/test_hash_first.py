"""The checkpoint being loaded is hashed before the background queue (issue #14): a first
request never waits behind the hashing of every other model file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pipelines.models.background_hash import BackgroundHasher
from pipelines.models.hashing import HashCache, sha256_file


class _Recorded(HashCache):
    """Records the order files are hashed in; the first file blocks until ``gate`` opens."""

    def __init__(self, cache_file: Path, gate: threading.Event) -> None:
        super().__init__(cache_file)
        self.order: list[str] = []
        self.gate = gate

    def _compute(self, path: Path) -> str:
        self.order.append(path.name)
        if len(self.order) == 1:
            assert self.gate.wait(30)
        return super()._compute(path)


def test_the_file_being_loaded_jumps_the_hashing_queue(tmp_path: Path) -> None:
    files = []
    for name in ("a", "b", "c", "loaded"):
        (tmp_path / name).write_bytes(name.encode() * 1000)
        files.append(tmp_path / name)
    gate = threading.Event()
    cache = _Recorded(tmp_path / "hashes.json", gate)
    hasher = BackgroundHasher(cache)
    hasher.submit_all(files[:3])  # the worker starts on "a" and is held there
    answer: list[str] = []
    waiter = threading.Thread(target=lambda: answer.append(hasher.hash_first(files[3])))
    waiter.start()
    deadline = time.monotonic() + 30
    while hasher.pending < 4:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()
    waiter.join(30)
    assert answer == [sha256_file(files[3])]
    assert hasher.wait_idle(30)
    assert cache.order == ["a", "loaded", "b", "c"]  # after the file in progress, before the queue
    assert hasher.hash_first(files[3]) == answer[0] and cache.order.count("loaded") == 1  # never twice


def test_loading_a_checkpoint_uses_the_background_hasher(ctx) -> None:
    info = ctx.catalog.find_checkpoint("tiny-sd1")
    assert ctx.catalog.hash_now == ctx.library.hasher.hash_first
    assert ctx.catalog.ensure_hash(info) == sha256_file(info.path)
