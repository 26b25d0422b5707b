"""An A1111 API client's view: one real server (``launch.py --nowebui --api-auth …``) talked to
with plain HTTP. Every ``/sdapi/v1`` route is called (the OpenAPI listing is checked against
the routes exercised here), with A1111's field names, defaults and shapes, credentials on and
off, and every kind of bad input answering 4xx with a message.

Credentials off (no ``--api-auth``) is what every other server test runs with.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from PIL import Image

from tests.step_gate import EXTENSIONS_DIR, RemoteGate
from tests.api.test_api import b64png, noise_image
from tests.test_server import Server, running_server

pytestmark = pytest.mark.e2e  # one real launch.py server process

USER, PASSWORD = "client", "pa:ss w0rd"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
FAST = {"prompt": "a lighthouse", "seed": 3, "steps": 3, "width": 64, "height": 64, "sampler_name": "Euler"}
MAIN, OTHER = "tiny-sd1", "more_tiny-sd1-b"
ESRGAN = "tiny-esrgan-4x"

# GET route → (top-level type, keys of each item / of the object)
GET_SHAPES: dict[str, tuple[type, set[str]]] = {
    "samplers": (list, {"name", "aliases", "options"}),
    "schedulers": (list, {"name", "label", "aliases", "default_rho", "need_inner_model"}),
    "upscalers": (list, {"name", "model_name", "model_path", "model_url", "scale"}),
    "latent-upscale-modes": (list, {"name"}),
    "sd-models": (list, {"title", "model_name", "hash", "sha256", "filename", "config"}),
    "sd-vae": (list, {"model_name", "filename"}),
    "loras": (list, {"name", "alias", "path", "metadata"}),
    "hypernetworks": (list, set()),
    "face-restorers": (list, {"name", "cmd_dir"}),
    "realesrgan-models": (list, {"name", "path", "scale"}),
    "prompt-styles": (list, {"name", "prompt", "negative_prompt"}),
    "embeddings": (dict, {"loaded", "skipped"}),
    "scripts": (dict, {"txt2img", "img2img"}),
    "script-info": (list, {"name", "is_alwayson", "is_img2img", "args"}),
    "extensions": (list, {"name", "remote", "branch", "commit_hash", "version", "commit_date", "enabled"}),
    "memory": (dict, {"ram", "cuda"}),
    "options": (dict, {"sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers", "send_seed", "samples_format"}),
    "cmd-flags": (dict, {"api", "nowebui", "port", "data_dir", "models_dir", "api_auth"}),
    "progress": (dict, {"progress", "eta_relative", "state", "current_image", "textinfo"}),
}
POST_ROUTES = {"txt2img", "img2img", "extra-single-image", "extra-batch-images", "png-info", "interrogate", "interrupt",
               "skip", "options", "refresh-checkpoints", "refresh-vae", "refresh-loras", "refresh-embeddings",
               "unload-checkpoint", "reload-checkpoint"}
# A1111 1.10's defaults for the fields a client leaves out, echoed back in ``parameters``
TXT2IMG_DEFAULTS = {
    "negative_prompt": "", "styles": [], "subseed": -1, "subseed_strength": 0.0, "seed_resize_from_h": -1,
    "seed_resize_from_w": -1, "sampler_index": "Euler", "batch_size": 1, "n_iter": 1, "cfg_scale": 7.0,
    "denoising_strength": None, "enable_hr": False, "hr_scale": 2.0, "hr_upscaler": None, "hr_second_pass_steps": 0,
    "hr_resize_x": 0, "hr_resize_y": 0, "override_settings": {}, "override_settings_restore_afterwards": True,
    "send_images": True, "save_images": False, "restore_faces": None, "script_name": None, "script_args": [],
    "alwayson_scripts": {}, "infotext": None,
}
INFO_KEYS = {"prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
             "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps", "batch_size",
             "restore_faces", "sd_model_name", "sd_model_hash", "sd_vae_name", "seed_resize_from_w",
             "seed_resize_from_h", "denoising_strength", "extra_generation_params", "index_of_first_image",
             "infotexts", "styles", "job_timestamp", "clip_skip", "version"}


@pytest.fixture(scope="module")
def server(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("client"), tiny_models_dir, "--nowebui",
                        "--api-auth", f"{USER}:{PASSWORD}", "--extensions-dir", str(EXTENSIONS_DIR),
                        headers=AUTH) as running:
        call(running, "POST", "options", {"sd_model_checkpoint": title(running, MAIN)})
        yield running


def call(server: Server, method: str, route: str, body: Any = None) -> Any:
    """A 200 answer's JSON (None for an empty body)."""
    status, _, payload = server.request(method, f"/sdapi/v1/{route}", body)
    assert status == 200, f"{method} {route}: {status} {payload[:400]!r}\n{server.log_tail()}"
    return json.loads(payload) if payload else None


def failure(server: Server, method: str, route: str, body: Any = None) -> tuple[int, str]:
    """(status, message) of an error answer, which must be JSON ``{error, detail}``."""
    status, content_type, payload = server.request(method, f"/sdapi/v1/{route}", body)
    assert content_type.startswith("application/json") and b"Traceback" not in payload, payload[:400]
    answer = json.loads(payload)
    assert set(answer) == {"error", "detail"} and isinstance(answer["detail"], str), answer
    return status, answer["detail"]


def png(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def generate(server: Server, kind: str = "txt2img", **fields: Any) -> tuple[dict, dict]:
    body = call(server, "POST", kind, {**FAST, **fields})
    return body, json.loads(body["info"])


def title(server: Server, model_name: str) -> str:
    return next(m["title"] for m in call(server, "GET", "sd-models") if m["model_name"] == model_name)


# -- coverage and shapes ---------------------------------------------------------------------------
def test_every_sdapi_route_is_exercised_here(server: Server) -> None:
    status, _, payload = server.request("GET", "/openapi.json")
    assert status == 200
    paths = json.loads(payload)["paths"]
    listed = {(method.upper(), path.removeprefix("/sdapi/v1/")) for path, ops in paths.items()
              if path.startswith("/sdapi/v1/") for method in ops}
    exercised = {("GET", r) for r in GET_SHAPES} | {("POST", r) for r in POST_ROUTES}
    assert listed == exercised


@pytest.mark.parametrize("route", sorted(GET_SHAPES))
def test_get_routes_answer_in_a1111_shapes(server: Server, route: str) -> None:
    kind, keys = GET_SHAPES[route]
    answer = call(server, "GET", route)
    assert isinstance(answer, kind)
    if kind is dict:
        assert keys <= set(answer), set(answer)
    else:
        assert all(isinstance(item, dict) and keys <= set(item) for item in answer), answer[:2]


def test_lists_name_what_the_models_folder_holds(server: Server) -> None:
    assert {MAIN, OTHER} <= {m["model_name"] for m in call(server, "GET", "sd-models")}
    assert [v["model_name"] for v in call(server, "GET", "sd-vae")] == ["tiny-vae.safetensors"]
    assert [u["name"] for u in call(server, "GET", "upscalers")] == ["None", "Lanczos", "Nearest", ESRGAN,
                                                                     "tiny-realesrgan-x2"]
    assert "sd upscale" in call(server, "GET", "scripts")["img2img"]
    flags = call(server, "GET", "cmd-flags")
    assert flags["nowebui"] is True and flags["api"] is True and flags["api_auth"] == "<redacted>"
    assert server.base_url.endswith(f":{flags['port']}") and PASSWORD not in json.dumps(flags)


# -- generation ------------------------------------------------------------------------------------
def test_txt2img_echoes_a1111_defaults_and_returns_pngs_with_infotext(server: Server) -> None:
    body, info = generate(server, n_iter=2)
    assert set(body) == {"images", "parameters", "info"} and len(body["images"]) == 2
    assert {k: body["parameters"][k] for k in TXT2IMG_DEFAULTS} == {**TXT2IMG_DEFAULTS, "n_iter": 2}
    assert INFO_KEYS <= set(info) and info["all_seeds"] == [3, 4] and info["sd_model_name"] == MAIN
    for data, text in zip(body["images"], info["infotexts"]):
        image = png(data)
        assert image.format == "PNG" and image.size == (64, 64) and image.info["parameters"] == text
    text = info["infotexts"][0]
    assert text.startswith("a lighthouse\nSteps: 3, Sampler: Euler") and "Seed: 3," in text
    read = call(server, "POST", "png-info", {"image": body["images"][0]})
    assert read["info"] == text and read["parameters"]["Seed"] == "3" and read["parameters"]["Prompt"] == "a lighthouse"


def test_img2img_takes_data_urls_and_infotext_fills_unset_fields(server: Server) -> None:
    _, first = generate(server, seed=11, cfg_scale=4.5)
    url = "data:image/png;base64," + b64png(noise_image())
    body, info = generate(server, "img2img", init_images=[url], mask=None, denoising_strength=0.5, seed=None,
                          cfg_scale=None, infotext=first["infotexts"][0])
    assert info["seed"] == 11 and info["cfg_scale"] == 4.5 and "Denoising strength: 0.5" in info["infotexts"][0]
    assert body["parameters"]["init_images"] is None and png(body["images"][0]).size == (64, 64)


def test_extras_upscale_single_and_batch(server: Server) -> None:
    single = call(server, "POST", "extra-single-image", {"image": b64png(noise_image(1, 32)), "upscaler_1": ESRGAN,
                                                          "upscaling_resize": 2})
    assert set(single) == {"html_info", "image"} and png(single["image"]).size == (64, 64)
    assert f"Postprocess upscaler: {ESRGAN}" in png(single["image"]).info["postprocessing"]
    batch = call(server, "POST", "extra-batch-images", {
        "imageList": [{"data": b64png(noise_image(i, 32)), "name": f"{i}.png"} for i in range(2)],
        "resize_mode": 1, "upscaling_resize_w": 48, "upscaling_resize_h": 40, "upscaler_1": "Lanczos"})
    assert [png(d).size for d in batch["images"]] == [(48, 40)] * 2


def test_interrogate_is_not_available(server: Server) -> None:
    status, message = failure(server, "POST", "interrogate", {"image": b64png(noise_image())})
    assert status == 501 and "no captioning model" in message


def test_progress_interrupt_and_skip(server: Server) -> None:
    idle = call(server, "GET", "progress")
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0
    results: list[dict] = []
    gate = RemoteGate(server.json)
    gate.arm(step=2)  # the job is held at step 2 of its first batch while we look and act
    worker = threading.Thread(target=lambda: results.append(generate(server, n_iter=30, steps=10)[1]))
    worker.start()
    try:
        assert gate.wait()["step"] == 2
        busy = call(server, "GET", "progress")
        assert busy["state"]["job"] == "txt2img" and 0 < busy["progress"] < 1
        assert busy["state"]["sampling_step"] == 2
        assert call(server, "POST", "skip") is None and call(server, "POST", "interrupt") == {}
    finally:
        gate.release()
    worker.join(60)
    assert results and results[0]["interrupted"] and len(results[0]["all_seeds"]) < 30


# -- options and models ----------------------------------------------------------------------------
def test_options_round_trip(server: Server) -> None:
    before = call(server, "GET", "options")
    assert before["send_seed"] is True
    try:
        assert call(server, "POST", "options", {"send_seed": False}) is None
        assert call(server, "GET", "options")["send_seed"] is False
    finally:
        call(server, "POST", "options", {"send_seed": True})
    assert call(server, "GET", "options") == before


def test_model_switch_via_options(server: Server) -> None:
    main, other = title(server, MAIN), title(server, OTHER)
    try:
        call(server, "POST", "options", {"sd_model_checkpoint": other})
        assert call(server, "GET", "options")["sd_model_checkpoint"] == other
        assert generate(server)[1]["sd_model_name"] == "tiny-sd1-b"
    finally:
        call(server, "POST", "options", {"sd_model_checkpoint": main})
    assert generate(server)[1]["sd_model_name"] == MAIN


def test_refresh_unload_and_reload(server: Server) -> None:
    for route in ("refresh-checkpoints", "refresh-vae", "refresh-loras", "refresh-embeddings", "unload-checkpoint",
                  "reload-checkpoint"):
        assert call(server, "POST", route) is None
    assert generate(server)[1]["sd_model_name"] == MAIN


# -- credentials -----------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic " + base64.b64encode(b"client:wrong").decode()},
                                     {"Authorization": "Bearer abc"}], ids=["none", "wrong", "other-scheme"])
def test_api_needs_the_credentials(server: Server, headers: dict) -> None:
    for method, path in (("GET", "/sdapi/v1/sd-models"), ("POST", "/sdapi/v1/txt2img"), ("GET", "/atelier/v1/status")):
        status, _, payload = server.request(method, path, FAST if method == "POST" else None, headers=headers)
        assert status == 401 and b"--api-auth" in payload
    for path in ("/docs", "/openapi.json"):
        assert server.request("GET", path, headers=headers)[0] == 401


# -- bad input -------------------------------------------------------------------------------------
NOT_BASE64 = "@@@ not base64 @@@"
NOT_AN_IMAGE = base64.b64encode(b"plain text").decode()
BAD = [
    ("img2img", {**FAST, "init_images": [NOT_BASE64]}, 422, "init_images[0]: not valid base64"),
    ("img2img", {**FAST, "init_images": [NOT_AN_IMAGE]}, 422, "init_images[0]: not a decodable image"),
    ("png-info", {"image": NOT_BASE64}, 422, "image: not valid base64"),
    ("extra-single-image", {"image": NOT_AN_IMAGE, "upscaler_1": "Lanczos"}, 422, "image: not a decodable image"),
    ("txt2img", {**FAST, "steps": "many"}, 422, "steps"),
    ("txt2img", {**FAST, "width": "wide"}, 422, "width"),
    ("txt2img", {**FAST, "override_settings": "fast"}, 422, "override_settings"),
    ("txt2img", {**FAST, "batch_size": [2]}, 422, "batch_size"),
    ("txt2img", {**FAST, "override_settings": {"sd_model_checkpoint": "no-such-model"}}, 422, "no-such-model"),
    ("options", {"sd_model_checkpoint": "no-such-model"}, 422, "no-such-model"),
    ("txt2img", {**FAST, "sampler_name": "Warp Drive"}, 422, "Valid samplers: "),
    ("txt2img", {**FAST, "script_name": "no such script"}, 422, "no such script"),
    ("txt2img", {**FAST, "alwayson_scripts": {"face swapper 9000": {"args": []}}}, 422,
     "always-on script face swapper 9000 not found"),
    ("extra-single-image", {"image": b64png(noise_image()), "upscaler_1": "4x-Nope"}, 422,
     f"available: None, Lanczos, Nearest, {ESRGAN}"),
    ("txt2img", {**FAST, "enable_hr": True, "hr_upscaler": "4x-Nope"}, 422, "unknown hires upscaler '4x-Nope'"),
    ("img2img", {**FAST, "init_images": [b64png(noise_image())], "script_name": "SD upscale",
                 "script_args": ["", 16, "4x-Nope", 2]}, 422, "unknown upscaler '4x-Nope'"),
]


@pytest.mark.parametrize("route,body,status,fragment", BAD, ids=[f"{r}-{i}" for i, (r, *_) in enumerate(BAD)])
def test_bad_input_is_a_4xx_with_a_message(server: Server, route: str, body: dict, status: int, fragment: str) -> None:
    got, message = failure(server, "POST", route, body)
    assert got == status and fragment in message, (got, message)
