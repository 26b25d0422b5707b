"""One request must not lock everyone out (issue #12 item 5): a VAE or checkpoint choice that
fails to load — by ``override_settings`` or ``POST /options`` — is never kept, overrides end
with their job on success, error and interrupt, and the next client's request works."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import save_file

from pipelines.context import AppConfig, AtelierContext
from tests.security.hostile_models import copy_good_models
from webui.server import create_app

FAST = {"prompt": "a fox", "seed": 1, "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}
GOOD_VAE, BAD_VAE, EMPTY_VAE = "tiny-vae.safetensors", "half-a-vae.safetensors", "empty.safetensors"
BAD_CHECKPOINT = "zz-half-a-checkpoint.safetensors"  # sorts after tiny-sd1: not the default


def write_models(tiny_models_dir: Path, root: Path) -> Path:
    copy_good_models(tiny_models_dir, root)
    # Looks like a VAE from its header (an SD decoder's first conv), but has nothing else: it
    # passes the folder scan and fails only when loaded
    save_file({"decoder.conv_in.weight": torch.zeros(32, 4, 3, 3)}, str(root / "VAE" / BAD_VAE))
    (root / "VAE" / EMPTY_VAE).write_bytes(b"")
    # The same for a checkpoint: an SD1 UNet's first conv and text encoder, and nothing else
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3),
               "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": torch.zeros(8, 32)},
              str(root / "Stable-diffusion" / BAD_CHECKPOINT))
    (root / "Stable-diffusion" / "empty.safetensors").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def models(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tiny_models_dir, tmp_path_factory.mktemp("choice-models"))


@pytest.fixture
def server(models: Path, tmp_path: Path) -> Iterator[tuple[TestClient, AtelierContext]]:
    """A fresh server per test (no model loaded yet), as after a start."""
    ctx = AtelierContext(AppConfig(data_dir=tmp_path / "data", models_dir=models, hash_in_background=False))
    try:
        yield TestClient(create_app(ctx, api=True, webui=False)), ctx
    finally:
        ctx.close()


def txt2img(client: TestClient, **fields) -> tuple[int, dict]:
    response = client.post("/sdapi/v1/txt2img", json={**FAST, **fields})
    return response.status_code, response.json()


def assert_next_request_works(client: TestClient) -> dict:
    status, body = txt2img(client)
    assert status == 200, body
    info = json.loads(body["info"])
    assert info["sd_vae_name"] is None  # Automatic: the checkpoint's own VAE
    assert client.get("/sdapi/v1/options").json()["sd_vae"] == "Automatic"
    return info


@pytest.mark.parametrize("loaded_first", [True, False])
def test_override_with_a_vae_that_fails_to_load_is_not_kept(server, loaded_first: bool) -> None:
    client, _ = server
    if loaded_first:
        assert txt2img(client)[0] == 200
    status, body = txt2img(client, override_settings={"sd_vae": BAD_VAE})
    assert status == 400 and BAD_VAE in body["detail"], body
    assert_next_request_works(client)
    assert_next_request_works(client)  # and stays so


@pytest.mark.parametrize("loaded_first", [True, False])
def test_options_with_a_vae_that_fails_to_load_is_not_stored(server, loaded_first: bool) -> None:
    client, ctx = server
    if loaded_first:
        assert txt2img(client)[0] == 200
    response = client.post("/sdapi/v1/options", json={"sd_vae": BAD_VAE})
    assert response.status_code == 400 and BAD_VAE in response.json()["detail"], response.text
    assert ctx.settings.sd_vae == "Automatic"
    assert BAD_VAE not in (ctx.settings_store.path.read_text() if ctx.settings_store.path.exists() else "")
    assert_next_request_works(client)


@pytest.mark.parametrize("loaded_first", [True, False])
def test_the_ui_vae_choice_that_fails_to_load_is_not_kept(server, loaded_first: bool) -> None:
    """The quick-settings VAE dropdown and a Models-tab VAE card."""
    from webui.ui.models import actions as models_actions
    from webui.ui.settings import actions as settings_actions
    from webui.errors import UserError

    client, ctx = server
    if loaded_first:
        assert txt2img(client)[0] == 200
    for choose in (settings_actions.select_vae, models_actions.select_vae):
        with pytest.raises(UserError, match=BAD_VAE):
            choose(ctx, BAD_VAE)
        assert ctx.manager.vae_choice == "Automatic" and ctx.settings.sd_vae == "Automatic"
    assert_next_request_works(client)


def test_a_saved_vae_that_fails_to_load_after_a_restart_fails_one_request_at_most(models: Path, tmp_path: Path) -> None:
    """config.json written by an older version (or a VAE file replaced since): the first load
    says why, and every later request works with Automatic."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(json.dumps({"sd_vae": BAD_VAE}))
    ctx = AtelierContext(AppConfig(data_dir=data, models_dir=models, hash_in_background=False))
    try:
        client = TestClient(create_app(ctx, api=True, webui=False))
        status, body = txt2img(client)
        assert status == 400 and BAD_VAE in body["detail"] and "Automatic" in body["detail"], body
        assert_next_request_works(client)
    finally:
        ctx.close()


def test_a_good_override_is_restored_after_success_and_after_an_error(server) -> None:
    client, ctx = server
    status, body = txt2img(client, override_settings={"sd_vae": GOOD_VAE})
    assert status == 200 and json.loads(body["info"])["sd_vae_name"] == GOOD_VAE
    assert_next_request_works(client)
    status, body = txt2img(client, prompt="a AND b", override_settings={"sd_vae": GOOD_VAE})  # fails in the job
    assert status == 422, body
    assert ctx.manager.vae_choice == "Automatic" and ctx.manager.current.vae is None
    assert_next_request_works(client)


def test_a_good_override_is_restored_after_an_interrupt(server) -> None:
    client, ctx = server
    assert txt2img(client)[0] == 200
    result: dict = {}

    def long_job() -> None:
        result["status"], result["body"] = txt2img(client, steps=40, n_iter=3, override_settings={"sd_vae": GOOD_VAE})

    worker = threading.Thread(target=long_job)
    worker.start()
    deadline = time.monotonic() + 60
    while ctx.manager.vae_choice != GOOD_VAE and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ctx.manager.vae_choice == GOOD_VAE  # the override is in force while its job runs
    client.post("/sdapi/v1/interrupt")
    worker.join(120)
    assert result["status"] == 200 and json.loads(result["body"]["info"])["interrupted"] is True
    assert_next_request_works(client)


@pytest.mark.parametrize("loaded_first", [True, False])
def test_a_checkpoint_that_fails_to_load_is_not_kept(server, loaded_first: bool) -> None:
    client, ctx = server
    if loaded_first:
        assert txt2img(client)[0] == 200
    before = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
    status, body = txt2img(client, override_settings={"sd_model_checkpoint": BAD_CHECKPOINT})
    assert status == 400 and BAD_CHECKPOINT in body["detail"], body
    response = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": BAD_CHECKPOINT})
    assert response.status_code == 400 and BAD_CHECKPOINT in response.json()["detail"]
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == before
    assert BAD_CHECKPOINT not in str(ctx.settings.sd_model_checkpoint)
    info = assert_next_request_works(client)
    assert info["sd_model_name"] == "tiny-sd1"


def test_empty_files_are_refused_before_anything_changes(server) -> None:
    client, ctx = server
    status, body = txt2img(client, override_settings={"sd_vae": EMPTY_VAE})
    assert status == 422 and "empty file" in body["detail"]
    status, body = txt2img(client, override_settings={"sd_model_checkpoint": "empty.safetensors"})
    assert status == 400 and "empty file" in body["detail"]
    response = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "empty.safetensors"})
    assert response.status_code == 400 and ctx.settings.sd_model_checkpoint is None
    assert_next_request_works(client)
