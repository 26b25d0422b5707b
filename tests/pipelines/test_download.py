"""Model downloads against a local HTTP server: full, dropped then resumed, cancelled then resumed,
sha256 mismatch, names from Content-Disposition, and every way a destination could leave models/."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

import pytest

from pipelines.models.download import (
    DownloadCancelled,
    DownloadError,
    DownloadManager,
    DownloadRequest,
    DownloadState,
)
from tests.file_server import FileServerState, ServedFile, file_server

DATA = os.urandom(3 * (1 << 20) + 12345)  # several 1 MiB chunks and a ragged end
SHA = hashlib.sha256(DATA).hexdigest()
WAIT_S = 30


@pytest.fixture
def server() -> Iterator[tuple[str, FileServerState]]:
    with file_server() as (url, state):
        state.files["/files/model.safetensors"] = ServedFile(DATA)
        state.files["/api/download/42"] = ServedFile(DATA, 'attachment; filename="named by server.safetensors"')
        state.files["/api/evil"] = ServedFile(DATA, 'attachment; filename="../../evil.safetensors"')
        yield url, state


@pytest.fixture
def manager(tmp_path: Path) -> DownloadManager:
    done: list[Path] = []
    manager = DownloadManager(tmp_path / "models", on_complete=done.append)
    manager.completed = done  # type: ignore[attr-defined]
    return manager


def _download(manager: DownloadManager, url: str, kind: str = "LoRA", filename: str = "", sha256: str = "") -> Path:
    return manager.start(DownloadRequest(url, kind, filename, sha256)).wait(WAIT_S)


def test_full_download_lands_atomically_in_the_kinds_folder(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, _ = server
    path = _download(manager, url + "/files/model.safetensors", "VAE", sha256=SHA.upper())
    assert path == (tmp_path / "models" / "VAE" / "model.safetensors").resolve()
    assert path.read_bytes() == DATA
    assert not list(path.parent.glob("*.part"))
    assert manager.completed == [path]  # type: ignore[attr-defined]


def test_name_comes_from_content_disposition(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, _ = server
    path = _download(manager, url + "/api/download/42", "Checkpoint")
    assert path.name == "named by server.safetensors" and path.parent.name == "Stable-diffusion"


def test_a_dropped_download_resumes_with_a_range_request(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, state = server
    state.drop_after = 1_500_000
    first = manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA", sha256=SHA))
    with pytest.raises(DownloadError, match="dropped after 1500000 of"):
        first.wait(WAIT_S)
    part = tmp_path / "models" / "Lora" / "model.safetensors.part"
    assert part.stat().st_size == 1_500_000
    assert not (tmp_path / "models" / "Lora" / "model.safetensors").exists()

    second = manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA", sha256=SHA))
    path = second.wait(WAIT_S)
    assert state.ranges[-1] == "bytes=1500000-" and second.resumed_from == 1_500_000
    assert path.read_bytes() == DATA and not part.exists()


def test_resume_when_the_name_comes_from_the_server(manager: DownloadManager, server) -> None:
    url, state = server
    state.drop_after = 700_000
    with pytest.raises(DownloadError, match="dropped"):
        _download(manager, url + "/api/download/42", "LoRA")
    path = _download(manager, url + "/api/download/42", "LoRA")
    assert state.ranges[-1] == "bytes=700000-" and path.read_bytes() == DATA


def test_cancel_keeps_the_part_file_for_a_resume(manager: DownloadManager, server) -> None:
    url, state = server
    state.delay_per_chunk = 0.02
    task = manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA"))
    while task.done_bytes < 300_000 and not task.finished.is_set():
        task.finished.wait(0.01)
    task.cancel()
    with pytest.raises(DownloadCancelled):
        task.wait(WAIT_S)
    assert task.state is DownloadState.CANCELLED
    state.delay_per_chunk = 0.0
    resumed = manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA"))
    assert resumed.wait(WAIT_S).read_bytes() == DATA and resumed.resumed_from > 0


def test_sha256_mismatch_removes_the_file(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(DownloadError, match="sha256 mismatch.*removed"):
        _download(manager, url + "/files/model.safetensors", sha256="0" * 64)
    assert not list((tmp_path / "models" / "Lora").iterdir())
    assert manager.completed == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("filename", ["../evil.safetensors", "/tmp/evil.safetensors", "sub/evil.safetensors",
                                      "..", "model.exe", ".hidden.safetensors"])
def test_bad_file_names_are_refused_before_downloading(manager: DownloadManager, server, filename: str) -> None:
    url, state = server
    with pytest.raises(DownloadError, match="refused|not a LoRA file"):
        manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA", filename))
    assert state.ranges == []  # nothing was requested


def test_a_server_supplied_traversal_name_is_refused(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(DownloadError, match="refused"):
        _download(manager, url + "/api/evil")
    assert not list(tmp_path.rglob("evil*"))


def test_a_symlinked_folder_pointing_outside_is_refused(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, _ = server
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "Lora").symlink_to(outside)
    with pytest.raises(DownloadError, match="refused"):
        manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA", "model.safetensors"))
    with pytest.raises(DownloadError, match="refused"):
        _download(manager, url + "/files/model.safetensors")
    assert not list(outside.iterdir())


@pytest.mark.parametrize("url,message", [
    ("file:///etc/passwd", "only http"), ("ftp://example.com/a.safetensors", "only http"),
    ("not a url", "only http"), ("", "only http"), ("http:///nohost.safetensors", "only http"),
])
def test_non_http_urls_are_refused(manager: DownloadManager, url: str, message: str) -> None:
    with pytest.raises(DownloadError, match=message):
        manager.start(DownloadRequest(url, "LoRA"))


def test_bad_kind_sha_and_missing_files_give_clear_errors(manager: DownloadManager, server) -> None:
    url, _ = server
    with pytest.raises(DownloadError, match="unknown model kind 'Shader'"):
        manager.start(DownloadRequest(url + "/files/model.safetensors", "Shader"))
    with pytest.raises(DownloadError, match="64 hex digits"):
        manager.start(DownloadRequest(url + "/files/model.safetensors", "LoRA", sha256="abc"))
    with pytest.raises(DownloadError, match="404"):
        _download(manager, url + "/files/missing.safetensors")
    with pytest.raises(DownloadError, match="cannot reach"):
        _download(manager, "http://127.0.0.1:9/x.safetensors")


def test_an_existing_file_is_not_overwritten(manager: DownloadManager, server, tmp_path: Path) -> None:
    url, _ = server
    target = tmp_path / "models" / "Lora" / "model.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"mine")
    with pytest.raises(DownloadError, match="already exists"):
        _download(manager, url + "/files/model.safetensors")
    assert target.read_bytes() == b"mine"
