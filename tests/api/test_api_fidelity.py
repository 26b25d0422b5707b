"""A1111 fidelity over a real HTTP server (issue #14): what third-party clients and A1111's own
tests send, answered the way A1111 answers it, on one kept-alive connection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from fastapi import FastAPI

from pipelines.context import AppConfig, AtelierContext
from tests.live_server import serve
from tests.api.test_api import unpng
from webui.api.error_handlers import install_error_handlers
from webui.server import create_app

FAST = {"prompt": "a lighthouse", "seed": 3, "steps": 3, "width": 64, "height": 64, "sampler_name": "Euler"}


@pytest.fixture(scope="module")
def live_ctx(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtelierContext]:
    ctx = AtelierContext(AppConfig(data_dir=tmp_path_factory.mktemp("fidelity"), models_dir=tiny_models_dir,
                                   hash_in_background=False))
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def client(live_ctx: AtelierContext) -> Iterator[httpx.Client]:
    """One httpx client (one kept-alive connection) for the whole module, as SDK clients do."""
    with serve(create_app(live_ctx, api=True, webui=False)) as url, httpx.Client(base_url=url, timeout=120) as http:
        title = live_ctx.catalog.find_checkpoint("tiny-sd1").title
        assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": title}).status_code == 200
        yield http


def post(client: httpx.Client, route: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/sdapi/v1/{route}", json=body)


def ok(client: httpx.Client, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = post(client, route, body)
    assert response.status_code == 200, response.text
    return response.json()


# -- 1. hires fix whose second pass rounds to zero steps ---------------------------------------
@pytest.mark.parametrize("fields", [
    {"denoising_strength": 0},  # A1111's own test payload
    {"denoising_strength": 0.7, "hr_second_pass_steps": 1},
])
def test_hires_second_pass_runs_at_least_one_step(client: httpx.Client, fields: dict[str, Any]) -> None:
    body = ok(client, "txt2img", {**FAST, "enable_hr": True, "hr_scale": 1.5, **fields})
    image = unpng(body["images"][0])
    assert image.size == (96, 96)
    assert "Hires upscale: 1.5" in json.loads(body["info"])["infotexts"][0]


def test_an_unexpected_error_answers_500_and_keeps_the_connection() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("cannot reshape tensor of 0 elements")

    @app.get("/fine")
    def fine() -> dict[str, str]:
        return {"ok": "yes"}

    connections: list[int] = []
    with serve(app) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            failed = http.get("/boom")
            assert failed.status_code == 500
            assert failed.json() == {"error": "InternalError", "detail": "cannot reshape tensor of 0 elements"}
            connections.append(id(failed.extensions["network_stream"]))
            after = http.get("/fine")
            assert after.json() == {"ok": "yes"}
            connections.append(id(after.extensions["network_stream"]))
    assert len(set(connections)) == 1  # the same kept-alive connection throughout


# -- 2. every sampler with every schedule type -------------------------------------------------
@pytest.mark.slow  # 264 generations
def test_every_sampler_with_every_schedule_type_generates(client: httpx.Client) -> None:
    """All 22 samplers × 12 schedule types A1111 lists, through /txt2img (2 steps, 64×64)."""
    samplers = [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
    schedules = [s["label"] for s in client.get("/sdapi/v1/schedulers").json()]
    assert {"DPM fast", "DPM adaptive", "Restart", "DDIM CFG++"} <= set(samplers)
    assert {"Polyexponential", "KL Optimal", "Align Your Steps"} <= set(schedules) and len(schedules) == 12
    refused = []
    for sampler in samplers:
        for schedule in schedules:
            response = post(client, "txt2img", {**FAST, "steps": 2, "sampler_name": sampler, "scheduler": schedule,
                                                "send_images": False})
            if response.status_code != 200:
                refused.append((sampler, schedule, response.status_code, response.text[:200]))
                continue
            info = json.loads(response.json()["info"])
            assert f"Sampler: {sampler}," in info["infotexts"][0]
    # DEIS (not an A1111 sampler) is a diffusers scheduler: only the three schedules diffusers lacks
    assert [(s, k, code) for s, k, code, _ in refused] == [
        ("DEIS", k, 422) for k in ("Polyexponential", "KL Optimal", "Align Your Steps")], refused


@pytest.mark.parametrize(("sampler", "schedule"), [("Euler a", "Karras"), ("DPM adaptive", "Automatic"),
                                                   ("Restart", "Align Your Steps"), ("DDIM CFG++", "Automatic")])
def test_sampler_runs_txt2img_img2img_and_hires(client: httpx.Client, sampler: str, schedule: str) -> None:
    from tests.api.test_api import b64png, noise_image

    fields = {**FAST, "sampler_name": sampler, "scheduler": schedule, "steps": 4}
    first = ok(client, "txt2img", fields)
    again = ok(client, "txt2img", fields)
    assert unpng(first["images"][0]).tobytes() == unpng(again["images"][0]).tobytes()  # seeded, stochastic too
    text = json.loads(first["info"])["infotexts"][0]
    assert f"Sampler: {sampler}," in text
    if schedule != "Automatic":
        assert f"Schedule type: {schedule}," in text
    hires = ok(client, "txt2img", {**fields, "enable_hr": True, "hr_scale": 1.5, "denoising_strength": 0.5})
    assert unpng(hires["images"][0]).size == (96, 96)
    img2img = ok(client, "img2img", {**fields, "init_images": [b64png(noise_image())], "denoising_strength": 0.6})
    assert unpng(img2img["images"][0]).size == (64, 64)


# -- 3. live previews for API jobs -------------------------------------------------------------
def test_progress_carries_the_live_preview_of_an_api_job(client: httpx.Client, live_ctx: AtelierContext) -> None:
    import threading

    assert client.post("/sdapi/v1/options", json={"live_previews_enable": True,
                                                  "show_progress_every_n_steps": 1}).status_code == 200
    done: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: done.append(httpx.post(
        f"{client.base_url}/sdapi/v1/txt2img", json={**FAST, "steps": 150}, timeout=300)))
    worker.start()
    previews, skipped = [], []
    while worker.is_alive():
        progress = client.get("/sdapi/v1/progress", params={"skip_current_image": "false"}).json()
        if progress["current_image"]:
            previews.append(unpng(progress["current_image"]))
            skipped.append(client.get("/sdapi/v1/progress", params={"skip_current_image": "true"}).json())
            client.post("/sdapi/v1/interrupt")
            break
    worker.join()
    assert done and done[0].status_code == 200
    assert previews and previews[0].size[0] > 0, "an API job never showed a live preview"
    assert skipped[0]["current_image"] is None
    assert client.post("/sdapi/v1/options", json={"show_progress_every_n_steps": 5}).status_code == 200


# -- 4. the grid of a batch --------------------------------------------------------------------
def _grids(ctx: AtelierContext, kind: str) -> list[Path]:
    return sorted((ctx.outputs_dir / f"{kind}-grids").glob("*/*.png"))


def test_batch_grid_comes_first_and_is_saved_as_a1111(client: httpx.Client, live_ctx: AtelierContext) -> None:
    from tests.api.test_api import b64png, noise_image

    options = client.get("/sdapi/v1/options").json()
    assert options["return_grid"] is True and options["grid_save"] is True  # A1111's defaults
    body = ok(client, "txt2img", {**FAST, "batch_size": 3, "save_images": True})
    info = json.loads(body["info"])
    grid, *images = [unpng(data) for data in body["images"]]
    assert grid.size == (128, 128) and [im.size for im in images] == [(64, 64)] * 3  # round(sqrt(3)) = 2 rows
    assert info["index_of_first_image"] == 1 and len(info["infotexts"]) == 4 and len(info["all_seeds"]) == 3
    assert grid.info["parameters"] == info["infotexts"][0] == info["infotexts"][1]
    assert close(grid.crop((64, 0, 128, 64)), images[1])  # the second image, top right
    saved = _grids(live_ctx, "txt2img")
    assert len(saved) == 1 and saved[0].name.endswith("-grid.png")

    plain = ok(client, "txt2img", {**FAST, "batch_size": 2})  # save_images false: no grid, as A1111's API
    assert len(plain["images"]) == 2 and json.loads(plain["info"])["index_of_first_image"] == 0

    client.post("/sdapi/v1/options", json={"return_grid": False})
    try:
        body = ok(client, "img2img", {**FAST, "batch_size": 2, "save_images": True,
                                      "init_images": [b64png(noise_image())]})
        assert len(body["images"]) == 2 and len(_grids(live_ctx, "img2img")) == 1
        single = ok(client, "txt2img", {**FAST, "save_images": True})  # one image: no grid
        assert len(single["images"]) == 1 and len(_grids(live_ctx, "txt2img")) == 1
    finally:
        client.post("/sdapi/v1/options", json={"return_grid": True})


def close(a: Any, b: Any) -> bool:
    """Same picture up to the grid's own invisible provenance marks."""
    import numpy as np

    return float(np.abs(np.asarray(a.convert("RGB"), float) - np.asarray(b.convert("RGB"), float)).mean()) < 6.0  # other cells differ by ~38


# -- 5. NaNs after the UNet and after the VAE ---------------------------------------------------
def _nan_hook(module: Any, when: Any = lambda inputs: True) -> Any:
    import torch

    def poison(_module: Any, inputs: Any, output: Any) -> Any:
        if not when(inputs):
            return output
        if isinstance(output, tuple):
            return (torch.full_like(output[0], float("nan")), *output[1:])
        if hasattr(output, "sample"):
            output.sample = torch.full_like(output.sample, float("nan"))
            return output
        return torch.full_like(output, float("nan"))

    return module.register_forward_hook(poison)


def _saved(ctx: AtelierContext) -> list[Path]:
    return sorted((ctx.outputs_dir / "txt2img-images").glob("*/*.png"))


def test_unet_nans_fail_the_job_with_the_cause_and_the_setting(client: httpx.Client, live_ctx: AtelierContext) -> None:
    loaded = live_ctx.manager.checkpoint("tiny-sd1")
    before = _saved(live_ctx)
    handle = _nan_hook(loaded.components["unet"])
    try:
        response = post(client, "txt2img", {**FAST, "save_images": True})
    finally:
        handle.remove()
    assert response.status_code == 500, response.text
    detail = response.json()["detail"]
    assert "UNet produced NaNs" in detail and "--precision fp32" in detail and "nothing was saved" in detail
    assert _saved(live_ctx) == before  # no black image on disk
    assert ok(client, "txt2img", FAST)["images"]  # the server and the connection go on


def test_vae_nans_in_half_precision_decode_again_in_float32(client: httpx.Client, live_ctx: AtelierContext) -> None:
    import numpy as np
    import torch

    loaded = live_ctx.manager.checkpoint("tiny-sd1")
    vae = loaded.components["vae"]
    reference = unpng(ok(client, "txt2img", FAST)["images"][0])
    vae.to(torch.bfloat16)  # a half-precision VAE that overflows: NaNs unless it decodes in float32
    handle = _nan_hook(vae.decoder, when=lambda inputs: inputs[0].dtype != torch.float32)
    try:
        body = ok(client, "txt2img", FAST)
        image = unpng(body["images"][0])
        assert np.asarray(image).max() > 0  # not black
        assert np.abs(np.asarray(image, dtype=int) - np.asarray(reference, dtype=int)).max() <= 2
        warnings = json.loads(body["info"])["warnings"]
        assert any("decoded again in float32 (auto_vae_precision)" in w for w in warnings)
        assert vae.dtype == torch.bfloat16  # the retry does not change the loaded model
        client.post("/sdapi/v1/options", json={"auto_vae_precision": False})
        response = post(client, "txt2img", FAST)
        assert response.status_code == 500 and "auto_vae_precision" in response.json()["detail"]
    finally:
        handle.remove()
        vae.to(torch.float32)
        client.post("/sdapi/v1/options", json={"auto_vae_precision": True})


# -- 6. smaller ones ---------------------------------------------------------------------------
def test_wrong_method_answers_405_with_the_ui_mounted(live_ctx: AtelierContext) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(live_ctx, api=True, webui=True))
    for method, route, allow in [("GET", "txt2img", "POST"), ("GET", "png-info", "POST"), ("PUT", "options", "GET, POST"),
                                 ("DELETE", "sd-models", "GET")]:
        response = client.request(method, f"/sdapi/v1/{route}")
        assert response.status_code == 405, (method, route, response.status_code)
        assert response.headers["allow"] == allow and response.json()["detail"] == "Method Not Allowed"
    assert client.get("/sdapi/v1/sd-models").status_code == 200
    assert client.get("/sdapi/v1/no-such-route").status_code == 404


def test_embeddings_report_the_checkpoint_they_were_trained_on(client: httpx.Client, live_ctx: AtelierContext) -> None:
    import torch

    folder = live_ctx.config.models_dir / "embeddings"
    path = folder / "trained-ti.pt"
    torch.save({"string_to_param": {"*": torch.randn(2, 32)}, "name": "trained-ti", "step": 1500,
                "sd_checkpoint": "8a1c2f3b", "sd_checkpoint_name": "tiny-sd1"}, path)
    try:
        assert client.post("/sdapi/v1/refresh-embeddings").status_code == 200
        item = client.get("/sdapi/v1/embeddings").json()["loaded"]["trained-ti"]
        assert item == {"step": 1500, "sd_checkpoint": "8a1c2f3b", "sd_checkpoint_name": "tiny-sd1", "shape": 32,
                        "vectors": 2}
    finally:
        path.unlink()
        client.post("/sdapi/v1/refresh-embeddings")


# -- 7. fields A1111 honours: sampler parameters, tiling, hires pass, legacy first phase --------
def _image_and_text(client: httpx.Client, **fields: Any) -> tuple[Any, str]:
    import numpy as np

    body = ok(client, "txt2img", {**FAST, "steps": 4, **fields})
    return np.asarray(unpng(body["images"][0]).convert("RGB")), json.loads(body["info"])["infotexts"][0]


def test_eta_and_sigma_parameters_change_the_sampler_and_are_written(client: httpx.Client) -> None:
    import numpy as np

    euler, _ = _image_and_text(client, sampler_name="Euler")
    ancestral, text = _image_and_text(client, sampler_name="Euler a")
    assert "Eta" not in text and "RNG: CPU" in text
    no_eta, text = _image_and_text(client, sampler_name="Euler a", eta=0)
    assert np.array_equal(no_eta, euler) and not np.array_equal(no_eta, ancestral)  # eta 0: Euler a is Euler
    assert "Eta: 0," in text
    churned, text = _image_and_text(client, sampler_name="Euler", s_churn=1.0, s_noise=0.9)
    assert not np.array_equal(churned, euler) and "Sigma churn: 1," in text and "Sigma noise: 0.9" in text
    again, _ = _image_and_text(client, infotext=text)  # read back from a pasted infotext
    assert np.array_equal(again, churned)
    ddim, text = _image_and_text(client, sampler_name="DDIM", eta=0.5)
    assert "Eta DDIM: 0.5" in text and not np.array_equal(ddim, _image_and_text(client, sampler_name="DDIM")[0])


def test_ensd_seeds_the_sampler_noise(client: httpx.Client) -> None:
    import numpy as np

    plain, text = _image_and_text(client, sampler_name="Euler a")
    assert "ENSD" not in text
    client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": 31337})
    try:
        shifted, text = _image_and_text(client, sampler_name="Euler a")
        assert "ENSD: 31337" in text and not np.array_equal(shifted, plain)
        assert "ENSD" not in _image_and_text(client, sampler_name="Euler")[1]  # deterministic: no noise to seed
    finally:
        client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": 0})


def test_tiling_pads_circularly_and_is_written(client: httpx.Client, live_ctx: AtelierContext) -> None:
    import numpy as np

    plain, _ = _image_and_text(client)
    tiled, text = _image_and_text(client, tiling=True)
    assert "Tiling: True" in text and not np.array_equal(tiled, plain)
    assert np.array_equal(_image_and_text(client, infotext=text)[0], tiled)
    assert np.array_equal(_image_and_text(client)[0], plain)  # the model's padding is put back
    unet = live_ctx.manager.checkpoint("tiny-sd1").components["unet"]
    assert {m.padding_mode for m in unet.modules() if hasattr(m, "padding_mode")} == {"zeros"}


@pytest.mark.parametrize(("field", "value", "written"), [
    ("hr_sampler_name", "DPM++ 2M", "Hires sampler: DPM++ 2M"),
    ("hr_scheduler", "Exponential", "Hires schedule type: Exponential"),
    ("hr_prompt", "a storm at sea", "Hires prompt: a storm at sea"),
    ("hr_negative_prompt", "calm", "Hires negative prompt: calm"),
    ("hr_cfg", 2.5, "Hires CFG Scale: 2.5"),
])
def test_hires_pass_fields_change_the_second_pass(client: httpx.Client, field: str, value: Any, written: str) -> None:
    import numpy as np

    hires = {"enable_hr": True, "hr_scale": 1.5, "denoising_strength": 0.6}
    base, _ = _image_and_text(client, **hires)
    changed, text = _image_and_text(client, **hires, **{field: value})
    assert written in text and not np.array_equal(changed, base), field
    assert np.array_equal(_image_and_text(client, infotext=text)[0], changed)  # read back


def test_hr_checkpoint_name_is_refused_unless_the_same(client: httpx.Client) -> None:
    response = post(client, "txt2img", {**FAST, "enable_hr": True, "hr_checkpoint_name": "tiny-sd1-b"})
    assert response.status_code == 422 and "hr_checkpoint_name" in response.json()["detail"]
    ok(client, "txt2img", {**FAST, "enable_hr": True, "hr_scale": 1.5, "hr_checkpoint_name": "Use same checkpoint"})


def test_legacy_firstphase_size_makes_the_first_pass(client: httpx.Client) -> None:
    body = ok(client, "txt2img", {**FAST, "width": 96, "height": 96, "enable_hr": True, "firstphase_width": 64,
                                  "firstphase_height": 64, "denoising_strength": 0.5})
    assert unpng(body["images"][0]).size == (96, 96)
    text = json.loads(body["info"])["infotexts"][0]
    assert "Size: 64x64" in text and "Hires resize: 96x96" in text


# -- 8. what A1111 1.10's own HTTP tests send (test/test_txt2img.py, test_img2img.py, ...) -------
# Every field those tests send, with their values: the sampler parameters at their A1111
# defaults, legacy firstphase_* at 0, denoising 0 with hires fix, "Euler a" by sampler_index.
A1111_TEST_FIELDS = dict(batch_size=1, cfg_scale=7, eta=0, height=64, width=64, n_iter=1, negative_prompt="",
                         prompt="example prompt", restore_faces=False, s_churn=0, s_noise=1, s_tmax=0, s_tmin=0,
                         sampler_index="Euler a", seed=-1, seed_resize_from_h=-1, seed_resize_from_w=-1, steps=3,
                         styles=[], subseed=-1, subseed_strength=0, tiling=False)
TXT2IMG_VARIANTS = {
    "simple": {}, "negative prompt": {"negative_prompt": "example negative prompt"},
    "complex prompt": {"prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"},
    "not square": {"height": 128}, "hires fix": {"enable_hr": True}, "tiling": {"tiling": True},
    "restore faces": {"restore_faces": True}, "PLMS": {"sampler_index": "PLMS"}, "DDIM": {"sampler_index": "DDIM"},
    "UniPC": {"sampler_index": "UniPC"}, "two batches": {"n_iter": 2}, "batch of two": {"batch_size": 2},
}


@pytest.mark.parametrize("variant", list(TXT2IMG_VARIANTS))
def test_a1111_txt2img_cases(client: httpx.Client, variant: str) -> None:
    body = {**A1111_TEST_FIELDS, "denoising_strength": 0, "enable_hr": False, "firstphase_height": 0,
            "firstphase_width": 0, **TXT2IMG_VARIANTS[variant]}
    assert post(client, "txt2img", body).status_code == 200, variant


@pytest.mark.parametrize("variant", ["simple", "masked", "inverted mask", "sd upscale"])
def test_a1111_img2img_cases(client: httpx.Client, variant: str) -> None:
    from tests.api.test_api import noise_image, square_mask

    def data_url(image: Any) -> str:
        from tests.api.test_api import b64png

        return "data:image/png;base64," + b64png(image)

    body = {**A1111_TEST_FIELDS, "denoising_strength": 0.75, "include_init_images": False,
            "init_images": [data_url(noise_image(size=128))], "inpaint_full_res": False, "inpaint_full_res_padding": 0,
            "inpainting_fill": 0, "inpainting_mask_invert": False, "mask": None, "mask_blur": 4,
            "override_settings": {}, "resize_mode": 0}
    if variant in ("masked", "inverted mask"):
        body["mask"] = data_url(square_mask(32, 96, size=128))
        body["inpainting_mask_invert"] = variant == "inverted mask"
    if variant == "sd upscale":
        body.update(script_name="sd upscale", script_args=["", 8, "Lanczos", 2.0])
    assert post(client, "img2img", body).status_code == 200, variant


def test_a1111_extras_options_and_list_routes(client: httpx.Client) -> None:
    from tests.api.test_api import b64png, noise_image

    image = "data:image/png;base64," + b64png(noise_image(size=128))
    upscale = {"resize_mode": 0, "show_extras_results": True, "gfpgan_visibility": 0, "codeformer_visibility": 0,
               "codeformer_weight": 0, "upscaling_resize": 2, "upscaling_resize_w": 128, "upscaling_resize_h": 128,
               "upscaling_crop": True, "upscaler_1": "Lanczos", "upscaler_2": "None",
               "extras_upscaler_2_visibility": 0, "image": image}
    for body in (upscale, {"image": image}, {"image": image, "model": "clip"}):
        assert post(client, "extra-single-image", body).status_code == 200
    before = client.get("/sdapi/v1/options").json()["send_seed"]
    assert client.post("/sdapi/v1/options", json={"send_seed": not before}).status_code == 200
    assert client.get("/sdapi/v1/options").json()["send_seed"] is (not before)
    client.post("/sdapi/v1/options", json={"send_seed": before})
    for route in ("cmd-flags", "samplers", "upscalers", "sd-models", "hypernetworks", "face-restorers",
                  "realesrgan-models", "prompt-styles", "embeddings"):
        assert client.get(f"/sdapi/v1/{route}").status_code == 200, route


def test_options_serve_the_keys_a1111_clients_read(client: httpx.Client) -> None:
    options = client.get("/sdapi/v1/options").json()
    selected = next(m for m in client.get("/sdapi/v1/sd-models").json() if m["title"] == options["sd_model_checkpoint"])
    assert options["sd_checkpoint_hash"] == selected["sha256"] and len(selected["sha256"]) == 64
    a1111_defaults = {"samples_save": True, "grid_save": True, "return_grid": True, "live_previews_enable": True,
                      "show_progress_every_n_steps": 10, "eta_ancestral": 1.0, "eta_ddim": 0.0,
                      "eta_noise_seed_delta": 0, "code_former_weight": 0.5, "auto_vae_precision": True,
                      "enable_pnginfo": True, "samples_format": "png", "CLIP_stop_at_last_layers": 1}
    for key, value in a1111_defaults.items():
        assert key in options, key
        if key != "show_progress_every_n_steps":  # Atelier's default is 5 (A1111: 10)
            assert options[key] == value, key
    assert client.post("/sdapi/v1/options", json=options).status_code == 200  # a client echoing all back
