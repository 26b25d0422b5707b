"""Hostile and broken model files (issue #12 items 10, 11): every refused pickle says the one
same thing, nothing runs, and files that cannot be models are listed as broken with a reason
instead of being offered — through the API routes and Models tab an attacker or user reaches."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AppConfig, AtelierContext
from pipelines.models.library import ModelKind
from tests.security.hostile_models import (
    PLACEHOLDER_FOLDERS,
    assert_user_wording,
    copy_good_models,
    write_placeholders,
    write_refused_pickles,
)
from webui.server import create_app

FAST = {"seed": 1, "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}


@pytest.fixture(scope="module")
def hostile(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AtelierContext, Path]]:
    root = tmp_path_factory.mktemp("hostile-models")
    marker = root.parent / f"{root.name}-code-ran"
    copy_good_models(tiny_models_dir, root)
    write_refused_pickles(root, marker)
    write_placeholders(root)
    ctx = AtelierContext(AppConfig(data_dir=tmp_path_factory.mktemp("hostile-data"), models_dir=root,
                                   hash_in_background=False))
    try:
        yield TestClient(create_app(ctx, api=True, webui=False)), ctx, marker
    finally:
        ctx.close()
    assert not marker.exists(), "a pickle ran code"


def status(client: TestClient) -> dict:
    response = client.get("/atelier/v1/status")
    assert response.status_code == 200, response.text
    return response.json()


def reasons(entries: list[dict], name: str) -> str:
    found = [entry["reason"] for entry in entries if Path(entry["path"]).name == name or entry["name"] == name]
    assert found, f"{name} is not listed as unusable: {entries}"
    return found[0]


# -- item 10: one message for every refused pickle -------------------------------------------------
def test_every_refused_pickle_is_listed_with_the_same_message(hostile) -> None:
    client, ctx, marker = hostile
    report = status(client)
    assert_user_wording(reasons(report["unusable"], "evil.ckpt"))
    assert_user_wording(reasons(report["unusable_vaes"], "evil.pt"))
    assert_user_wording(reasons(report["unusable_loras"], "evil.pt"))
    assert_user_wording(reasons(report["unusable_embeddings"], "evil.pt"))
    assert_user_wording(reasons(report["unusable_upscalers"], "evil.pth"))
    # and the Models tab's cards say the same
    for kind in (ModelKind.CHECKPOINT, ModelKind.VAE, ModelKind.LORA, ModelKind.EMBEDDING):
        card = next(c for c in ctx.library.cards(kind) if c.path.stem == "evil")
        assert not card.usable
        assert_user_wording(card.error or "")
    assert not marker.exists()


def test_refused_files_are_not_offered_and_choosing_them_says_why(hostile) -> None:
    client, _, _ = hostile
    assert "evil.pt" not in json.dumps(client.get("/sdapi/v1/sd-vae").json())
    assert "evil" not in [item["name"] for item in client.get("/sdapi/v1/loras").json()]
    assert "evil" not in json.dumps(client.get("/sdapi/v1/upscalers").json())
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="PNG")
    response = client.post("/sdapi/v1/extra-single-image", json={
        "image": base64.b64encode(buffer.getvalue()).decode(), "upscaler_1": "evil", "upscaling_resize": 2})
    assert response.status_code == 422
    assert_user_wording(response.json()["detail"])
    response = client.post("/sdapi/v1/options", json={"sd_vae": "evil.pt"})
    assert response.status_code == 422
    assert_user_wording(response.json()["detail"])
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST,
                                                       "override_settings": {"sd_model_checkpoint": "evil.ckpt"}})
    assert response.status_code == 400
    assert_user_wording(response.json()["detail"])


def test_refused_detector_answers_the_same_message(hostile) -> None:
    client, _, marker = hostile
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(buffer, format="PNG")
    response = client.post("/atelier/v1/detect", json={"image": base64.b64encode(buffer.getvalue()).decode(),
                                                        "detector": "evil.pth"})
    assert response.status_code == 422, response.text
    assert_user_wording(response.json()["detail"])
    assert not marker.exists()


def test_a_refused_lora_is_a_warning_and_not_in_lora_hashes(hostile) -> None:
    client, _, _ = hostile
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "a fox <lora:tiny-lora:0.5> <lora:evil:1>", **FAST})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    warning = next(w for w in info["warnings"] if "evil" in w)
    assert_user_wording(warning)
    hashes = info["extra_generation_params"]["Lora hashes"]
    assert "tiny-lora: " in hashes and "evil" not in hashes
    assert "evil" not in info["infotexts"][0].split("Lora hashes:")[1]


def test_a_lora_that_fails_to_load_is_not_in_lora_hashes(hostile) -> None:
    """Not a pickle: a LoRA whose tensors do not fit the checkpoint (diffusers refuses it)."""
    client, ctx, _ = hostile
    from safetensors.torch import save_file

    import torch

    misfit = ctx.config.models_dir / "Lora" / "misfit.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 7),
               "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(7, 4)}, str(misfit))
    try:
        response = client.post("/sdapi/v1/txt2img", json={"prompt": "a fox <lora:misfit:1>", **FAST})
        assert response.status_code == 200, response.text
        info = json.loads(response.json()["info"])
        assert any("misfit" in w for w in info["warnings"]), info["warnings"]
        assert "misfit" not in info["extra_generation_params"].get("Lora hashes", "")
        assert "Lora hashes" not in info["infotexts"][0]
    finally:
        misfit.unlink()
        ctx.lora_catalog.refresh()


def test_a_refused_embedding_named_in_the_prompt_is_a_warning(hostile) -> None:
    client, _, _ = hostile
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "a fox, evil", "negative_prompt": "tiny-ti", **FAST})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    warning = next(w for w in info["warnings"] if "embedding evil" in w)
    assert_user_wording(warning)
    assert "TI hashes" in info["infotexts"][0]  # the good one is still used


# -- item 11: empty files, dangling links and folders are broken entries, never usable ------------
@pytest.mark.parametrize("name, reason", [("empty.safetensors", "empty file (0 bytes)"),
                                          ("dangling.safetensors", "symbolic link"),
                                          ("folder.safetensors", "is a folder")])
def test_placeholders_are_listed_as_broken_with_a_reason(hostile, name: str, reason: str) -> None:
    client, ctx, _ = hostile
    report = status(client)
    for key in ("unusable", "unusable_vaes", "unusable_loras", "unusable_embeddings"):
        assert reason in reasons(report[key], name), key
    for kind in (ModelKind.CHECKPOINT, ModelKind.VAE, ModelKind.LORA, ModelKind.EMBEDDING):
        card = next(c for c in ctx.library.cards(kind) if c.path.name == name)
        assert not card.usable and reason in (card.error or "")
    listed = json.dumps([client.get(f"/sdapi/v1/{route}").json() for route in ("sd-models", "sd-vae", "loras")])
    assert name not in listed and Path(name).stem not in [i["name"] for i in client.get("/sdapi/v1/loras").json()]
    assert len(PLACEHOLDER_FOLDERS) == 4


def test_an_empty_vae_cannot_be_chosen_and_the_next_request_works(hostile) -> None:
    client, _, _ = hostile
    for body in ({"sd_vae": "empty.safetensors"},):
        response = client.post("/sdapi/v1/options", json=body)
        assert response.status_code == 422 and "empty file" in response.json()["detail"]
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST,
                                                       "override_settings": {"sd_vae": "empty.safetensors"}})
    assert response.status_code == 422 and "empty file" in response.json()["detail"]
    assert client.get("/sdapi/v1/options").json()["sd_vae"] == "Automatic"
    assert client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST}).status_code == 200
