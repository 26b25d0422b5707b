"""The A1111-compatible REST API over tiny random-weight checkpoints (FastAPI TestClient).

Checks what A1111 clients rely on: response shapes, infotext inside the returned PNGs, the
``info`` JSON string, seeds, img2img/inpaint, options and model switching, and that every kind
of bad input answers 4xx with a readable message instead of a 500.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image, PngImagePlugin

from pipelines.context import AppConfig, AtelierContext
from tests.step_gate import WAIT_S, Gate
from webui.cli import parse_args, public_flags
from webui.server import create_app

FAST = {"width": 64, "height": 64, "steps": 3, "sampler_name": "Euler"}
MAIN, OTHER = "tiny-sd1", "more/tiny-sd1-b.safetensors"
SDMODEL_FIELDS = {"title", "model_name", "hash", "sha256", "filename", "config"}
STATE_FIELDS = {"skipped", "interrupted", "stopping_generation", "job", "job_count", "job_timestamp", "job_no",
                "sampling_step", "sampling_steps"}


# -- helpers -----------------------------------------------------------------------------------
def b64png(image: Image.Image, text: Optional[dict[str, str]] = None) -> str:
    """An image as A1111 clients send it: base64 PNG, optional text chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def unpng(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def noise_image(seed: int = 0, size: int = 64) -> Image.Image:
    """Busy pixels, so a repainted region can never match the input by chance."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def square_mask(lo: int, hi: int, size: int = 64) -> Image.Image:
    mask = np.zeros((size, size), np.uint8)
    mask[lo:hi, lo:hi] = 255
    return Image.fromarray(mask, "L")


@dataclass
class Api:
    """A TestClient over one context, with the request/assert helpers every test shares."""

    client: TestClient
    ctx: AtelierContext

    def ok(self, method: str, route: str, body: Any = None) -> Any:
        response = self.client.request(method, f"/sdapi/v1/{route}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def generate(self, kind: str = "txt2img", **fields: Any) -> tuple[dict, dict]:
        """(response JSON, decoded ``info``) for a small, fast job."""
        body = self.ok("POST", kind, {"prompt": "a red fox", "seed": 42, **FAST, **fields})
        info = body["info"]
        assert isinstance(info, str)
        return body, json.loads(info)

    def fails(self, method: str, route: str, status: int, body: Any = None, **kwargs: Any) -> str:
        """Assert a clean JSON error (never a traceback) and return its message."""
        response = self.client.request(method, f"/sdapi/v1/{route}", json=body, **kwargs)
        assert response.status_code == status, response.text
        return error_detail(response)

    def title(self, query: str) -> str:
        return self.ctx.catalog.find_checkpoint(query).title

    def shorthash(self, query: str) -> str:
        """What ``info.sd_model_hash`` says when ``query`` generated the image."""
        return self.ctx.catalog.find_checkpoint(query).shorthash

    def select(self, query: str) -> None:
        self.ok("POST", "options", {"sd_model_checkpoint": self.title(query)})

    def selected(self) -> str:
        return self.ok("GET", "options")["sd_model_checkpoint"]


def error_detail(response: Response) -> str:
    payload = response.json()
    assert set(payload) == {"error", "detail"} and isinstance(payload["detail"], str), payload
    assert "Traceback" not in response.text
    return payload["detail"]


@pytest.fixture(scope="module")
def api(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    flags = public_flags(parse_args(["--api", "--models-dir", str(tiny_models_dir), "--api-auth", "u:secret"]))
    ctx = AtelierContext(AppConfig(data_dir=tmp_path_factory.mktemp("api-data"), models_dir=tiny_models_dir,
                                   hash_in_background=False, cmd_flags=flags))
    client = TestClient(create_app(ctx, api=True, webui=False))
    api = Api(client, ctx)
    api.select(MAIN)
    yield api
    ctx.close()


# -- txt2img -----------------------------------------------------------------------------------
def test_txt2img_images_carry_infotext_and_info_is_a1111_json(api: Api) -> None:
    body, info = api.generate(batch_size=2, seed=1234, negative_prompt="blurry")
    assert set(body) == {"images", "parameters", "info"} and len(body["images"]) == 2
    assert info["all_seeds"] == [1234, 1235] and info["seed"] == 1234
    assert info["all_prompts"] == ["a red fox"] * 2 and info["negative_prompt"] == "blurry"
    assert info["sd_model_name"] == MAIN and info["sampler_name"] == "Euler"
    assert {"all_subseeds", "job_timestamp", "version", "styles", "clip_skip", "index_of_first_image"} <= set(info)
    for data, text, seed in zip(body["images"], info["infotexts"], info["all_seeds"]):
        image = unpng(data)
        assert image.format == "PNG" and image.size == (64, 64)
        assert image.info["parameters"] == text
        assert text.startswith("a red fox\nNegative prompt: blurry\nSteps: 3, Sampler: Euler")
        assert f"Seed: {seed}," in text
    assert body["parameters"]["prompt"] == "a red fox" and body["parameters"]["sampler_index"] == "Euler"
    assert not (api.ctx.outputs_dir / "txt2img-images").exists()  # A1111: save_images defaults to False


def test_nulls_legacy_sampler_index_and_unknown_fields_are_accepted(api: Api) -> None:
    fields = {"sampler_name": None, "sampler_index": "DPM++ 2M Karras", "override_settings": None, "styles": None,
              "scheduler": None, "eta": 0.5, "send_images": False}
    body, info = api.generate(**fields)
    assert body["images"] == [] and body["parameters"]["eta"] == 0.5
    assert "Sampler: DPM++ 2M, Schedule type: Karras" in info["infotexts"][0]


def test_infotext_fills_only_the_fields_the_request_leaves_unset(api: Api) -> None:
    _, source = api.generate(seed=77, negative_prompt="fog", cfg_scale=5.5)
    text = source["infotexts"][0].replace("Steps: 3,", "Steps: 4, Clip skip: 2, VAE: gone.safetensors,")
    body = api.ok("POST", "txt2img", {"infotext": text, "steps": 2, "prompt": None, "width": None})
    info = json.loads(body["info"])
    assert info["prompt"] == "a red fox" and info["negative_prompt"] == "fog"  # unset: from the text
    assert info["seed"] == 77 and info["cfg_scale"] == 5.5 and info["width"] == 64
    assert info["steps"] == 2  # sent: the request wins
    assert info["clip_skip"] == 2 and "Clip skip: 2" in info["infotexts"][0]
    assert any("gone.safetensors" in w for w in info["warnings"])
    assert body["parameters"]["seed"] == 77 and body["parameters"]["infotext"] == text


def test_restore_faces_is_accepted_with_a_warning(api: Api) -> None:
    _, info = api.generate(restore_faces=True)
    assert any(w.startswith("restore_faces:") for w in info["warnings"])
    _, info = api.generate(restore_faces=False)
    assert not any(w.startswith("restore_faces:") for w in info["warnings"])


def test_cmd_flags_extensions_and_interrogate(api: Api) -> None:
    flags = api.ok("GET", "cmd-flags")
    assert flags["api"] is True and flags["port"] == 7860 and flags["models_dir"] == str(api.ctx.config.models_dir)
    assert flags["api_auth"] == "<redacted>" and "secret" not in json.dumps(flags)
    assert parse_args(["--api-auth", "a:b,c:d:e"]).api_auth == (("a", "b"), ("c", "d:e"))
    for bad in ("nopassword", "a:b,", ":b"):
        with pytest.raises(SystemExit):
            parse_args(["--api-auth", bad])
    listed = api.ok("GET", "extensions")  # an app built without a user extensions folder: the built-ins
    assert {(e["name"], e["enabled"], e["builtin"], e["status"]) for e in listed} == {
        ("builtin-face-swap", True, True, "loaded"), ("builtin-scripts", True, True, "loaded")}
    message = api.fails("POST", "interrogate", 501, {"image": b64png(noise_image()), "model": "clip"})
    assert "no captioning model" in message


def test_api_auth_guards_every_api_route_and_the_docs(api: Api) -> None:
    client = TestClient(create_app(api.ctx, api=True, webui=False, api_auth=[("ann", "pw1"), ("bob", "pw:2")]))
    for method, route in [("GET", "/sdapi/v1/sd-models"), ("GET", "/sdapi/v1/options"), ("GET", "/atelier/v1/status"),
                          ("POST", "/sdapi/v1/interrupt"), ("POST", "/atelier/v1/faces/detect")]:
        for auth, headers in [(None, {}), (("bob", "wrong"), {}), (("eve", "pw1"), {}),
                              (None, {"Authorization": "Basic !!notbase64"})]:
            response = client.request(method, route, auth=auth, headers=headers)
            assert response.status_code == 401, (route, auth, response.text)
            assert response.headers["www-authenticate"].startswith("Basic") and "--api-auth" in error_detail(response)
        assert client.request(method, route, auth=("bob", "pw:2")).status_code != 401
    assert client.get("/sdapi/v1/sd-models", auth=("ann", "pw1")).json() == api.ok("GET", "sd-models")
    for route in ("/openapi.json", "/docs"):
        assert client.get(route).status_code == 401 and client.get(route, auth=("ann", "pw1")).status_code == 200
    assert api.client.get("/atelier/v1/status").status_code == 200  # no --api-auth: open


# -- img2img and inpaint -----------------------------------------------------------------------
def test_img2img_accepts_data_urls_and_echoes_init_images_only_when_asked(api: Api) -> None:
    source = f"data:image/png;base64,{b64png(noise_image())}"
    body, info = api.generate("img2img", init_images=[source], mask=None, denoising_strength=0.5)
    assert unpng(body["images"][0]).size == (64, 64)
    assert "Denoising strength: 0.5" in info["infotexts"][0]
    assert body["parameters"]["init_images"] is None and body["parameters"]["mask"] is None
    body, _ = api.generate("img2img", init_images=[source], include_init_images=True, send_images=False)
    assert body["parameters"]["init_images"] == [source]


@pytest.mark.parametrize("strength", [0.2, 0.0])
def test_img2img_with_less_than_one_denoising_step_still_runs_one(api: Api, strength: float) -> None:
    body, info = api.generate("img2img", init_images=[b64png(noise_image())], steps=3, denoising_strength=strength)
    assert len(body["images"]) == 1 and info["denoising_strength"] == strength


@pytest.mark.parametrize("full_res", [True, False], ids=["only-masked", "whole-picture"])
def test_inpaint_keeps_pixels_far_outside_the_mask(api: Api, full_res: bool) -> None:
    source = noise_image(1)
    body, info = api.generate("img2img", init_images=[b64png(source)], mask=b64png(square_mask(24, 40)),
                              mask_blur=2, inpaint_full_res=full_res, inpaint_full_res_padding=4,
                              denoising_strength=1.0)
    out, original = np.asarray(unpng(body["images"][0]).convert("RGB")), np.asarray(source)
    far = np.ones((64, 64), bool)
    far[14:50, 14:50] = False
    assert np.array_equal(out[far], original[far])
    assert not np.array_equal(out[28:36, 28:36], original[28:36, 28:36])
    assert "Mask blur: 2" in info["infotexts"][0]


# -- png-info and listings ---------------------------------------------------------------------
def test_png_info_reads_back_a_generated_image(api: Api) -> None:
    body, info = api.generate(seed=7)
    result = api.ok("POST", "png-info", {"image": body["images"][0]})
    assert set(result) == {"info", "items", "parameters"}
    assert result["info"] == info["infotexts"][0]
    assert set(result["items"]) == {"atelier-provenance", "XML:com.adobe.xmp"}  # the provenance record
    params = result["parameters"]
    assert params["Prompt"] == "a red fox" and params["Seed"] == "7" and params["Size-1"] == "64"
    assert params["Model"] == MAIN and params["Sampler"] == "Euler"


def test_png_info_without_infotext_reports_other_text_chunks(api: Api) -> None:
    result = api.ok("POST", "png-info", {"image": b64png(noise_image(), {"Software": "paint"})})
    assert result["info"] == "" and result["items"] == {"Software": "paint"}
    assert result["parameters"]["Prompt"] == ""


def test_sd_models_lists_usable_checkpoints_in_a1111_shape(api: Api) -> None:
    models = api.ok("GET", "sd-models")
    by_name = {m["model_name"]: m for m in models}
    assert {MAIN, "more_tiny-sd1-b", "tiny-sdxl"} <= set(by_name)
    assert not any(m["filename"].endswith(("garbage.ckpt", "not-a-model.safetensors", "broken-truncated.safetensors"))
                   for m in models)
    main = by_name[MAIN]
    assert set(main) == SDMODEL_FIELDS and main["config"] is None
    assert main["hash"] == main["sha256"][:10] and main["title"] == f"{MAIN}.safetensors [{main['hash']}]"
    assert api.ok("POST", "refresh-checkpoints") is None
    assert api.ok("GET", "sd-models") == models


def test_samplers_and_schedulers_listings(api: Api) -> None:
    euler = next(s for s in api.ok("GET", "samplers") if s["name"] == "Euler")
    assert set(euler) == {"name", "aliases", "options"}
    karras = next(s for s in api.ok("GET", "schedulers") if s["label"] == "Karras")
    assert set(karras) == {"name", "label", "aliases", "default_rho", "need_inner_model"}


def test_status_lists_corrupt_files_with_reasons(api: Api) -> None:
    status = api.client.get("/atelier/v1/status").json()
    reasons = {item["name"]: item["reason"] for item in status["unusable"]}
    assert set(reasons) == {"garbage.ckpt", "not-a-model.safetensors", "broken-truncated.safetensors"}
    assert all(reasons.values()) and status["hint"] is None and status["checkpoints"] >= 3


# -- progress / interrupt / skip ---------------------------------------------------------------
def test_progress_when_idle_and_control_routes(api: Api) -> None:
    progress = api.ok("GET", "progress")
    assert progress["progress"] == 0 and set(progress["state"]) == STATE_FIELDS
    assert api.ok("POST", "interrupt") == {} and api.ok("POST", "skip") is None


def test_interrupt_stops_a_running_job(api: Api) -> None:
    results: list[dict] = []
    gate = Gate()
    gate.arm(step=2)  # the job is held at step 2 of its first batch while we look and act
    unsubscribe = api.ctx.events.subscribe("job_step", gate.on_step)
    worker = threading.Thread(target=lambda: results.append(api.generate(n_iter=20, steps=20)[1]))
    worker.start()
    try:
        assert gate.wait(WAIT_S) is not None, "the job never reached step 2"
        progress = api.ok("GET", "progress")
        assert progress["state"]["job"] == "txt2img" and 0 < progress["progress"] < 1
        assert progress["state"]["sampling_step"] == 2
        api.ok("POST", "interrupt")
    finally:
        gate.release()
        unsubscribe()
    worker.join(30)
    assert results and results[0]["interrupted"] and len(results[0]["all_seeds"]) < 20


# -- options and model switching ---------------------------------------------------------------
def test_options_round_trip(api: Api) -> None:
    options = api.ok("GET", "options")
    assert options["send_seed"] is True and options["sd_model_checkpoint"] == api.title(MAIN)
    try:
        assert api.ok("POST", "options", {"send_seed": False}) is None
        assert api.ok("GET", "options")["send_seed"] is False
    finally:
        api.ok("POST", "options", {"send_seed": True})
    assert api.ok("GET", "options") == options


def test_switch_model_via_options_and_override_settings(api: Api) -> None:
    main, other = api.shorthash(MAIN), api.shorthash(OTHER)
    try:
        api.select(OTHER)
        assert api.selected() == api.title(OTHER)
        assert api.generate()[1]["sd_model_hash"] == other
        override = {"sd_model_checkpoint": api.title(MAIN)}
        assert api.generate(override_settings=override)[1]["sd_model_hash"] == main
        assert api.selected() == api.title(OTHER)  # an override lasts one request…
        assert api.ctx.manager.current.info.title == api.title(OTHER)
        assert api.generate()[1]["sd_model_hash"] == other
        api.generate(override_settings=override, override_settings_restore_afterwards=False)
        assert api.selected() == api.title(MAIN)  # …unless asked to stay
    finally:
        api.select(MAIN)


def test_model_chosen_in_config_json_is_used_and_stays_loaded(api: Api) -> None:
    try:
        api.ctx.settings_store.update({"sd_model_checkpoint": api.title(OTHER)})  # as after a restart
        assert api.generate()[1]["sd_model_hash"] == api.shorthash(OTHER)
        assert api.ctx.manager.current.info.title == api.title(OTHER)
    finally:
        api.select(MAIN)


def test_options_and_engine_pick_the_same_checkpoint_when_none_is_named(api: Api) -> None:
    try:
        api.ctx.settings_store.update({"sd_model_checkpoint": api.title(OTHER)})  # saved choice wins
        assert api.selected() == api.ctx.manager.resolve(None).title == api.title(OTHER)
        api.ctx.settings_store.update({"sd_model_checkpoint": "deleted-model.safetensors"})  # gone: the loaded one
        assert api.selected() == api.ctx.manager.resolve(None).title == api.ctx.manager.current.info.title
    finally:
        api.select(MAIN)


def test_vae_override_changes_pixels_for_one_request(api: Api) -> None:
    plain, _ = api.generate(seed=5)
    with_vae, info = api.generate(seed=5, override_settings={"sd_vae": "tiny-vae.safetensors"})
    assert info["sd_vae_name"] == "tiny-vae.safetensors" and "VAE: tiny-vae.safetensors" in info["infotexts"][0]
    def pixels(body: dict) -> np.ndarray:  # not bytes: each PNG's provenance record has its own time
        return np.asarray(unpng(body["images"][0]))

    assert not np.array_equal(pixels(with_vae), pixels(plain))
    assert api.ok("GET", "options")["sd_vae"] == "Automatic"
    assert np.array_equal(pixels(api.generate(seed=5)[0]), pixels(plain))


def test_failed_switch_keeps_the_current_model(api: Api) -> None:
    before = api.selected()
    assert "no-such-model" in api.fails("POST", "options", 422, {"sd_model_checkpoint": "no-such-model"})
    assert "garbage.ckpt" in api.fails("POST", "options", 400, {"sd_model_checkpoint": "garbage.ckpt"})
    assert "CLIP_stop_at_last_layers" in api.fails(
        "POST", "options", 422, {"sd_model_checkpoint": api.title(OTHER), "CLIP_stop_at_last_layers": 99})
    assert api.selected() == before and api.ctx.manager.current.info.title == before


# -- bad input ---------------------------------------------------------------------------------
NOT_AN_IMAGE = base64.b64encode(b"this is plain text, not an image").decode()

BAD_INPUT = [
    ("img2img", {}, "init_images"),
    ("img2img", {"init_images": "abc"}, "init_images"),
    ("img2img", {"init_images": ["@@@not base64@@@"]}, "init_images[0]: not valid base64"),
    ("img2img", {"init_images": [NOT_AN_IMAGE]}, "init_images[0]: not a decodable image"),
    ("img2img", {"init_images": [b64png(noise_image())], "mask": NOT_AN_IMAGE}, "mask: not a decodable image"),
    ("img2img", {"init_images": [b64png(noise_image())], "resize_mode": 9}, "resize_mode"),
    ("txt2img", {"override_settings": {"sd_model_checkpoint": "no-such-model"}}, "no-such-model"),
    ("txt2img", {"override_settings": {"sd_vae": "no-such-vae"}}, "no-such-vae"),
    ("txt2img", {"override_settings": "fast"}, "override_settings"),
    ("txt2img", {"width": 100}, "width must be a multiple of 8"),
    ("txt2img", {"height": 32}, "height must be between 64 and 4096"),
    ("txt2img", {"width": 8192}, "width must be between"),
    ("txt2img", {"sampler_name": "Warp Drive"}, "Valid samplers: "),
    ("txt2img", {"scheduler": "Sideways"}, "Sideways"),
    ("txt2img", {"steps": "many"}, "steps"),
    ("txt2img", {"prompt": ["a", "list"]}, "prompt"),
    ("txt2img", {"seed": 1.5}, "seed"),
    ("txt2img", {"override_settings": {"CLIP_stop_at_last_layers": 40}}, "clip_skip"),
    ("png-info", {"image": ""}, "image: empty image data"),
    ("png-info", {"image": NOT_AN_IMAGE}, "image: not a decodable image"),
    ("png-info", {}, "image"),
    ("options", ["not", "a", "dict"], ""),
    ("options", {"samples_format": "bmp"}, "samples_format"),
]


@pytest.mark.parametrize("route,body,fragment", BAD_INPUT, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_INPUT)])
def test_bad_input_answers_422_with_a_message(api: Api, route: str, body: Any, fragment: str) -> None:
    base = {**FAST, "seed": 1} if route in ("txt2img", "img2img") else {}
    payload = {**base, **body} if isinstance(body, dict) else body
    assert fragment in api.fails("POST", route, 422, payload)


def test_unknown_sampler_lists_every_valid_name(api: Api) -> None:
    message = api.fails("POST", "txt2img", 422, {**FAST, "sampler_name": "Warp Drive"})
    assert all(s["name"] in message for s in api.ok("GET", "samplers"))


def test_malformed_json_is_a_422(api: Api) -> None:
    api.fails("POST", "txt2img", 422, content=b"{not json", headers={"content-type": "application/json"})


# -- an empty models folder --------------------------------------------------------------------
def test_empty_models_folder_explains_where_to_put_a_checkpoint(tmp_path: Path, tiny_models_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    ctx = AtelierContext(AppConfig(data_dir=tmp_path / "data", models_dir=models, hash_in_background=False))
    try:
        api = Api(TestClient(create_app(ctx, api=True, webui=False)), ctx)
        folder = str(models / "Stable-diffusion")
        assert api.ok("GET", "sd-models") == []
        assert folder in api.client.get("/atelier/v1/status").json()["hint"]
        assert folder in api.fails("POST", "txt2img", 400, {**FAST, "seed": 1})
        source = tiny_models_dir / "Stable-diffusion"
        shutil.copytree(source / f"{MAIN}.config", models / "Stable-diffusion" / f"{MAIN}.config")
        shutil.copy(source / f"{MAIN}.safetensors", models / "Stable-diffusion")
        hashing_may_finish, real_sha256 = threading.Event(), ctx.catalog.hash_cache.sha256
        monkeypatch.setattr(ctx.catalog.hash_cache, "sha256", lambda path: (hashing_may_finish.wait(30), real_sha256(path))[1])
        api.ok("POST", "refresh-checkpoints")  # answers while the new file is still being hashed
        [model] = api.ok("GET", "sd-models")
        assert model["model_name"] == MAIN and model["sha256"] is None
        assert api.client.get("/atelier/v1/status").json()["hint"] is None
        hashing_may_finish.set()
        assert ctx.library.hasher.wait_idle(30)
        [model] = api.ok("GET", "sd-models")
        assert model["sha256"] == real_sha256(Path(model["filename"])) and model["title"].endswith(f"[{model['hash']}]")
    finally:
        ctx.close()


# -- list / refresh / memory routes -----------------------------------------------------------
def test_list_routes_have_a1111_shapes(api: Api) -> None:
    vaes = api.ok("GET", "sd-vae")
    assert {"model_name": "tiny-vae.safetensors"} .items() <= vaes[0].items() and "filename" in vaes[0]
    loras = {item["name"]: item for item in api.ok("GET", "loras")}
    assert {"tiny-lora", "tiny-xl-lora"} <= set(loras)
    assert set(loras["tiny-lora"]) == {"name", "alias", "path", "metadata"} and loras["tiny-lora"]["metadata"]
    embeddings = api.ok("GET", "embeddings")
    assert set(embeddings) == {"loaded", "skipped"}
    assert api.ok("GET", "hypernetworks") == [] and api.ok("GET", "face-restorers") == []
    assert [u["name"] for u in api.ok("GET", "upscalers")][:3] == ["None", "Lanczos", "Nearest"]
    assert {"name": "Latent (bicubic)"} in api.ok("GET", "latent-upscale-modes")
    memory = api.ok("GET", "memory")
    assert memory["ram"]["total"] > memory["ram"]["used"] > 0 and "cuda" in memory
    for route in ("refresh-vae", "refresh-loras", "refresh-embeddings"):
        api.ok("POST", route)


def test_face_restorers_lists_the_restorer_files(make_context: Any, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "facerestore"
    folder.mkdir(parents=True)
    (folder / "GFPGANv1.4.onnx").write_bytes(b"listed by name; loaded only when a face is restored")
    client = TestClient(create_app(make_context(tmp_path / "models"), api=True, webui=False))
    assert client.get("/sdapi/v1/face-restorers").json() == [{"name": "GFPGAN", "cmd_dir": str(folder)}]


def test_prompt_styles_route_lists_styles_csv(api: Api) -> None:
    api.ctx.styles.create_from_prompt("api-style", "{prompt}, oil painting", "photo")
    styles = {s["name"]: s for s in api.ok("GET", "prompt-styles")}
    assert styles["api-style"] == {"name": "api-style", "prompt": "{prompt}, oil painting", "negative_prompt": "photo"}
    body, info = api.generate(styles=["api-style"])
    assert info["infotexts"][0].startswith("a red fox, oil painting\nNegative prompt: photo")


def test_unload_and_reload_checkpoint(api: Api) -> None:
    api.ok("POST", "unload-checkpoint")
    assert api.ctx.manager.current is None
    api.ok("POST", "reload-checkpoint")
    assert api.ctx.manager.current is not None
    api.select(MAIN)


def test_xyz_plot_through_script_name(api: Api) -> None:
    # A1111 1.10 script_args: x_type, x_values, x_values_dropdown, y_type, y_values, ...
    args = ["Steps", "2,3", "", "CFG Scale", "5,6", "", "Nothing", "", "", True, False, False, False, False, False, False, 0]
    body, info = api.generate(script_name="x/y/z plot", script_args=args)
    assert len(body["images"]) == 1 and info["index_of_first_image"] == 1  # the grid only (A1111 default)
    grid = unpng(body["images"][0])
    assert grid.width > 64 * 2 and grid.height > 64 * 2  # 2×2 cells plus legend margins
    text = grid.info["parameters"]
    assert "Script: X/Y/Z plot, X Type: Steps, X Values: \"2,3\", Y Type: CFG Scale" in text
    scripts = api.ok("GET", "scripts")
    assert "x/y/z plot" in scripts["txt2img"] and "prompt matrix" in scripts["img2img"]
    message = api.fails("POST", "txt2img", 422, {"prompt": "x", **FAST, "script_name": "no such script"})
    assert "script" in message.lower()
