"""Issue #12 item 9: malformed text and numbers answer 422 with a message (a notice in the UI),
never a 500 and never an image made silently from a NaN weight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipelines.context import AtelierContext
from tests.security import answers
from webui.ui.generation import actions as ui_actions
from webui.errors import UserError

FAST = {"width": 64, "height": 64, "steps": 2, "sampler_name": "Euler", "seed": 1}


def refused(response: Any, *words: str) -> str:
    return answers.refused(response, 422, *words)


def post_raw(client: TestClient, route: str, text: str) -> Any:
    """JSON as an attacker writes it: lone surrogates and NaN literals that json.dumps avoids."""
    return client.post(f"/sdapi/v1/{route}", content=text.encode(), headers={"content-type": "application/json"})


def test_a_lone_surrogate_prompt_is_422_not_500(client: TestClient) -> None:
    fields = json.dumps(FAST)[1:-1]
    refused(post_raw(client, "txt2img", '{"prompt": "a fox \\ud800", %s}' % fields), "prompt", "lone surrogate")
    refused(post_raw(client, "txt2img", '{"prompt": "x", "styles": ["\\udfff"], %s}' % fields), "styles[0]")
    refused(post_raw(client, "txt2img", '{"prompt": "x", "sampler_name": "\\ud83d"}'), "sampler_name")
    refused(post_raw(client, "options", '{"sd_vae": "\\ud800"}'), "sd_vae", "lone surrogate")
    assert client.get("/sdapi/v1/options").status_code == 200


def test_a_lone_surrogate_prompt_is_a_notice_in_the_ui(ctx: AtelierContext) -> None:
    with pytest.raises(UserError, match="lone surrogate"):
        ui_actions.submit_form(ctx, "txt2img", {**FAST, "prompt": "a fox \ud800"})


@pytest.mark.parametrize("seed, words", [
    (2**64, ["seed", "less than or equal"]),
    (2**63, ["seed", "less than or equal"]),
    (-2, ["seed", "greater than or equal to -1"]),
])
def test_seeds_out_of_range_are_422(client: TestClient, seed: int, words: list[str]) -> None:
    refused(client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST, "seed": seed}), *words)
    refused(client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST, "subseed": seed}), "subseed")


def test_the_largest_seed_generates(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST, "seed": 2**63 - 1, "batch_size": 2})
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["info"])["all_seeds"] == [2**63 - 1, 2**63]


@pytest.mark.parametrize("prompt, words", [
    ("a (fox:nan) in snow", ["'nan'", "not a finite number"]),
    ("a (fox:inf)", ["'inf'"]),
    ("a (fox:-Infinity)", ["'-Infinity'"]),
    ("a (fox:" + "9" * 400 + ")", ["not a finite number"]),
    ("a fox <lora:tiny-lora:nan>", ["<lora:tiny-lora:nan>", "not a finite number"]),
    ("a fox <lora:tiny-lora:1:inf>", ["unet multiplier 'inf'"]),
])
def test_non_finite_prompt_and_lora_weights_are_422(client: TestClient, ctx: AtelierContext, prompt: str,
                                                    words: list[str]) -> None:
    refused(client.post("/sdapi/v1/txt2img", json={"prompt": prompt, **FAST}), *words)
    refused(client.post("/sdapi/v1/txt2img", json={"prompt": "x", "negative_prompt": prompt, **FAST}),
            "negative_prompt", *words)
    with pytest.raises(UserError, match="finite"):
        ui_actions.submit_form(ctx, "txt2img", {**FAST, "prompt": prompt})


def test_finite_weights_still_generate(client: TestClient) -> None:
    body = {"prompt": "a (fox:1.3) [snow] <lora:tiny-lora:0.5> (a:nan text without parenthesis", **FAST}
    assert client.post("/sdapi/v1/txt2img", json=body).status_code == 200


def test_nan_and_infinity_numbers_in_json_are_422(client: TestClient) -> None:
    fields = json.dumps(FAST)[1:-1]
    refused(post_raw(client, "txt2img", '{"prompt": "x", "cfg_scale": NaN, %s}' % fields), "cfg_scale", "finite")
    refused(post_raw(client, "txt2img", '{"prompt": "x", "denoising_strength": Infinity, %s}' % fields),
            "denoising_strength")


def test_an_output_folder_that_is_a_file_is_refused(client: TestClient, ctx: AtelierContext, tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    detail = refused(client.post("/sdapi/v1/options", json={"outdir_txt2img_samples": str(a_file)}),
                     "outdir_txt2img_samples", "is a file")
    assert ctx.settings.outdir_txt2img_samples == ""
    # a folder that became a file after it was set: the save answers 422 naming it, not a 500
    folder = tmp_path / "outputs-here"
    assert client.post("/sdapi/v1/options", json={"outdir_txt2img_samples": str(folder)}).status_code == 200
    try:
        folder.write_text("now a file")
        body = {"prompt": "x", **FAST, "save_images": True}
        refused(client.post("/sdapi/v1/txt2img", json=body), str(folder), "is a file")
        with pytest.raises(UserError, match="is a file"):
            ui_actions.generate_form(ctx, "txt2img", {**FAST, "prompt": "x", "save_images": True})
    finally:
        assert client.post("/sdapi/v1/options", json={"outdir_txt2img_samples": ""}).status_code == 200
    assert detail
