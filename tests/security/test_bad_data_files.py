"""Start-up on damaged data files (issue #12 item 8): a config.json that is not a JSON object
(``null``, an array, a string, truncated) or a hash cache with a non-object entry starts with
defaults, keeps the bad file beside it, and says so in the log and the UI's notice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipelines.context import AppConfig, AtelierContext
from tests.test_server import running_server

BAD_CONFIGS = ["null", "[1, 2, 3]", '"x"', "42", '{"samples_format": "webp", "send_s', "\x00\xff garbage"]


def start(data: Path, models: Path) -> AtelierContext:
    return AtelierContext(AppConfig(data_dir=data, models_dir=models, hash_in_background=False))


def kept_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.stem}.broken-*{path.suffix}"))


@pytest.mark.parametrize("text", BAD_CONFIGS)
def test_a_config_that_is_not_an_object_starts_with_defaults_and_is_kept(
        tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(text, encoding="utf-8", errors="surrogateescape")
    with caplog.at_level(logging.WARNING):
        ctx = start(data, tmp_path / "models")
    try:
        assert ctx.settings.samples_format == "png"
        [aside] = kept_aside(data / "config.json")
        assert aside.read_text(encoding="utf-8", errors="surrogateescape") == text
        assert len(ctx.notices) == 1 and aside.name in ctx.notices[0] and "config.json" in ctx.notices[0]
        assert aside.name in caplog.text
        ctx.settings_store.update({"send_seed": False})  # and the new file works again
        assert json.loads((data / "config.json").read_text())["send_seed"] is False
    finally:
        ctx.close()


@pytest.mark.parametrize("text", ['{"/models/x.safetensors": 5}', '{"a": {"size": 1, "mtime": 2, "sha256": "00"},'
                                  ' "b": [1]}', "[1]", "null", '{"a": {"size": "1"'])
def test_a_damaged_hash_cache_starts_and_is_kept(tiny_models_dir: Path, tmp_path: Path, text: str) -> None:
    data = tmp_path / "data"
    (data / "cache").mkdir(parents=True)
    for name in ("hashes.json", "hashes-addnet.json"):
        (data / "cache" / name).write_text(text)
    ctx = start(data, tiny_models_dir)
    try:
        assert ctx.catalog.find_checkpoint("tiny-sd1").usable
        assert ctx.catalog.ensure_hash(ctx.catalog.find_checkpoint("tiny-sd1"))  # hashing still works
        for name in ("hashes.json", "hashes-addnet.json"):
            [aside] = kept_aside(data / "cache" / name)
            assert aside.read_text() == text
            assert any(aside.name in notice for notice in ctx.notices)
    finally:
        ctx.close()


@pytest.mark.parametrize("text", ['{"disabled": 5}', "[]", "{trunc"])
def test_a_damaged_extensions_state_starts_and_is_kept(tmp_path: Path, text: str) -> None:
    from webui.server import builtin_extensions

    data = tmp_path / "data"
    data.mkdir()
    (data / "extensions.json").write_text(text)
    ctx = start(data, tmp_path / "models")
    try:
        host = builtin_extensions(ctx)
        assert host.loaded()  # the built-in ones load
        [aside] = kept_aside(data / "extensions.json")
        assert aside.read_text() == text and any(aside.name in notice for notice in ctx.notices)
    finally:
        ctx.close()


@pytest.mark.e2e  # a real launch.py server process
def test_the_real_server_starts_on_damaged_files_and_shows_the_notice(tmp_path: Path, tiny_models_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "cache").mkdir(parents=True)
    (data / "config.json").write_text("[1, 2, 3]")
    (data / "cache" / "hashes.json").write_text('{"/somewhere/model.safetensors": "not an object"}')
    with running_server(tmp_path, tiny_models_dir) as server:
        notices = server.json("GET", "/atelier/v1/status")["notices"]
        assert len(notices) == 2 and "config.json" in notices[0] and "hashes.json" in notices[1]
        status, _, config = server.request("GET", "/config")  # the UI's page config: its notice banner
        assert status == 200
        banner = next(c for c in json.loads(config)["components"] if c.get("props", {}).get("elem_id") == "startup_notices")
        assert banner["props"]["visible"] is True
        assert "config.broken-" in banner["props"]["value"] and "hashes.broken-" in banner["props"]["value"]
        assert "config.broken-" in server.log_tail(20000)
        server.json("POST", "/sdapi/v1/options", {"send_seed": False})  # and saving works again
    assert json.loads((data / "config.json").read_text())["send_seed"] is False
    assert len(kept_aside(data / "config.json")) == 1 and len(kept_aside(data / "cache" / "hashes.json")) == 1
