"""Settings that poison the server (issue #12 item 7): every known option is checked for type
and range on write (a bad value is a 422 naming it, Infinity / NaN are never stored); unknown
keys are ignored — the request still succeeds, the log names them — and config.json stays
small. The Settings tab's Apply checks the same way."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from pipelines.context import AppConfig, AtelierContext
from webui.ui.settings import actions as settings_actions
from webui.server import create_app
from webui.errors import UserError


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TestClient, AtelierContext]]:
    ctx = AtelierContext(AppConfig(data_dir=tmp_path / "data", models_dir=tmp_path / "models", hash_in_background=False))
    try:
        yield TestClient(create_app(ctx, api=True, webui=False)), ctx
    finally:
        ctx.close()


def post_raw(client: TestClient, route: str, text: str):
    """A body as an attacker writes it (``1e999`` and ``NaN`` are not JSON a client library makes)."""
    return client.post(f"/sdapi/v1/{route}", content=text, headers={"content-type": "application/json"})


def config_text(ctx: AtelierContext) -> str:
    return ctx.settings_store.path.read_text() if ctx.settings_store.path.exists() else ""


@pytest.mark.parametrize("key, raw", [("faces_video_max_mb", "1e999"), ("faces_video_max_mb", "-1e999"),
                                      ("faces_video_max_mb", "NaN"), ("model_cache_gb", "Infinity"),
                                      ("faces_video_max_mb", "1e300"), ("CLIP_stop_at_last_layers", "1e999"),
                                      ("samples_format", '"bmp"'), ("send_seed", '"maybe"'),
                                      ("default_sampler", '"No such sampler"'), ("outdir_samples", json.dumps("x" * 5000))])
def test_a_bad_value_of_a_known_option_is_a_422_naming_it(server, key: str, raw: str) -> None:
    client, ctx = server
    before = client.get("/sdapi/v1/options").json()
    response = post_raw(client, "options", f'{{"{key}": {raw}, "send_size": false}}')
    assert response.status_code == 422, response.text
    assert key in response.json()["detail"]
    assert client.get("/sdapi/v1/options").json() == before  # all or nothing
    text = config_text(ctx)
    assert "Infinity" not in text and "NaN" not in text


def test_infinity_in_override_settings_is_refused_before_queueing(server) -> None:
    client, ctx = server
    response = post_raw(client, "txt2img", '{"prompt": "x", "override_settings": {"faces_video_max_mb": 1e999},'
                                           ' "override_settings_restore_afterwards": false}')
    assert response.status_code == 422 and "faces_video_max_mb" in response.json()["detail"], response.text
    assert ctx.settings.faces_video_max_mb == 1024.0 and "Infinity" not in config_text(ctx)


def test_unknown_options_succeed_are_logged_and_never_stored(server, caplog: pytest.LogCaptureFixture) -> None:
    client, ctx = server
    huge = "x" * (5 << 20)
    with caplog.at_level(logging.INFO):
        response = client.post("/sdapi/v1/options", json={"controlnet_max_models_num": 3, "regional_prompter_x": huge,
                                                          "send_seed": False})
    assert response.status_code == 200, response.text
    options = client.get("/sdapi/v1/options").json()
    assert options["send_seed"] is False  # the known option is applied
    assert "controlnet_max_models_num" not in options and "regional_prompter_x" not in options
    assert ctx.settings_store.path.stat().st_size < 8192
    logged = caplog.text
    assert "controlnet_max_models_num" in logged and "regional_prompter_x" in logged
    assert huge not in logged


def test_a_poisoned_config_from_before_starts_with_that_option_reset(tmp_path: Path) -> None:
    """An older version stored ``Infinity`` and a 5 MB unknown key: the next start drops both."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text('{"faces_video_max_mb": Infinity, "send_seed": false, "ext_option": "'
                                      + "y" * (5 << 20) + '"}')
    ctx = AtelierContext(AppConfig(data_dir=data, models_dir=tmp_path / "models", hash_in_background=False))
    try:
        assert ctx.settings.faces_video_max_mb == 1024.0 and ctx.settings.send_seed is False
        assert any("faces_video_max_mb" in notice for notice in ctx.notices)
        ctx.settings_store.update({"send_size": False})
        text = config_text(ctx)
        assert "Infinity" not in text and "ext_option" not in text and len(text) < 8192
    finally:
        ctx.close()


def test_settings_tab_apply_checks_every_field_and_says_which(server) -> None:
    _, ctx = server
    values = dict(zip(settings_actions.TAB_KEYS, settings_actions.tab_values(ctx)))
    for key, bad in [("outdir_samples", "x" * 5000), ("model_cache_gb", float("inf")),
                     ("model_cache_gb", float("nan")), ("show_progress_every_n_steps", 1e999),
                     ("default_sampler", "No such sampler")]:
        with pytest.raises(UserError, match=key):
            settings_actions.apply_tab(ctx, {**values, key: bad})
        assert getattr(ctx.settings, key) == values[key]
    text = config_text(ctx)
    assert "Infinity" not in text and "NaN" not in text and "xxxxx" not in text
