"""Issue #12 item 6: one request must not exhaust the server (settings ``limit_*``).

Each attack goes through the route an attacker uses (``/sdapi/v1`` or a UI action) and must
be refused with a 413 / 422 naming the setting, before any image is decoded or any job is
queued; on the old code every one of them was accepted.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from tests.security.answers import refused
from webui.ui.generation import actions as ui_actions
from webui.errors import UserError

FAST = {"width": 64, "height": 64, "steps": 2, "sampler_name": "Euler", "seed": 1}


@pytest.fixture
def settings(ctx: AtelierContext) -> Iterator[Any]:
    """Change settings for one test through the route a client uses; put them back after."""
    before = ctx.settings.model_dump()

    def change(client: TestClient, **values: Any) -> None:
        response = client.post("/sdapi/v1/options", json=values)
        assert response.status_code == 200, response.text

    yield change
    ctx.settings_store.update(before)
    ctx.apply_settings()


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def png_header_only(width: int, height: int) -> str:
    """A PNG that declares ``width`` x ``height`` but holds no pixel data: decoding it fails,
    so a limit error proves the size was refused from the header, before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", b"\x78\x9c")).decode()


# -- request body -------------------------------------------------------------------------------
def test_a_body_larger_than_the_limit_is_413_before_it_is_read(client: TestClient, settings: Any) -> None:
    settings(client, limit_request_body_mb=1)
    big = {"prompt": "x" * (2 * 1024 * 1024), **FAST}
    refused(client.post("/sdapi/v1/txt2img", json=big), 413, "limit_request_body_mb")


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(client: TestClient, settings: Any) -> None:
    settings(client, limit_request_body_mb=1)

    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    response = client.post("/sdapi/v1/txt2img", content=chunks(), headers={"content-type": "application/json"})
    refused(response, 413, "limit_request_body_mb")


# -- input images -------------------------------------------------------------------------------
def test_too_many_init_images_are_refused_before_decoding(client: TestClient) -> None:
    tiny = png_b64(Image.new("RGB", (64, 64), "red"))
    body = {**FAST, "prompt": "x", "init_images": [tiny] * 17}
    refused(client.post("/sdapi/v1/img2img", json=body), 422, "17 images", "limit_input_images")


def test_input_pixels_are_counted_from_headers_across_a_request(client: TestClient, settings: Any) -> None:
    settings(client, limit_input_megapixels=1)
    real, header_only = png_b64(Image.new("RGB", (800, 800), "blue")), png_header_only(800, 800)
    # 0.64 MP each: the second passes the 1 MP budget, and is refused from its header
    detail = refused(client.post("/sdapi/v1/img2img", json={**FAST, "init_images": [real, header_only]}), 422,
                     "init_images[1]", "limit_input_megapixels")
    assert "decodable" not in detail  # refused from the header: the (missing) pixels were never read


def test_one_huge_image_in_extras_is_refused_from_its_header(client: TestClient) -> None:
    response = client.post("/sdapi/v1/extra-single-image", json={"image": png_header_only(9000, 9000)})
    refused(response, 422, "too large")
    response = client.post("/sdapi/v1/extra-batch-images",
                           json={"imageList": [{"data": png_header_only(64, 64), "name": str(i)} for i in range(20)]})
    refused(response, 422, "limit_input_images")


# -- output size, batch, prompt -----------------------------------------------------------------
@pytest.mark.parametrize("fields, words", [
    ({"width": 4096, "height": 4096}, ["4096x4096", "limit_output_megapixels"]),
    ({"width": 1024, "height": 1024, "enable_hr": True, "hr_scale": 4}, ["4096x4096", "limit_output_megapixels"]),
    ({"width": 1024, "height": 1024, "batch_size": 16}, ["batch of 16", "limit_output_megapixels"]),
    ({"batch_size": 17}, ["batch_size 17", "limit_batch_size"]),
    ({"n_iter": 101}, ["n_iter 101", "limit_n_iter"]),
    ({"prompt": "a" * 1_000_000}, ["1000000 characters", "limit_prompt_chars"]),
    ({"negative_prompt": "b" * 20_001}, ["negative_prompt", "limit_prompt_chars"]),
    ({"infotext": "c" * 1_000_000}, ["infotext", "limit_prompt_chars"]),
])
def test_oversized_generation_requests_are_422_before_queueing(client: TestClient, ctx: AtelierContext,
                                                               fields: dict, words: list[str]) -> None:
    jobs_before = ctx.queue.waiting, ctx.queue.current
    refused(client.post("/sdapi/v1/txt2img", json={"prompt": "x", **FAST, **fields}), 422, *words)
    assert (ctx.queue.waiting, ctx.queue.current) == jobs_before == (0, None)


def test_a_raised_limit_lets_the_same_request_through(client: TestClient, settings: Any) -> None:
    body = {"prompt": "x", **FAST, "batch_size": 2}
    settings(client, limit_batch_size=1)
    refused(client.post("/sdapi/v1/txt2img", json=body), 422, "limit_batch_size")
    settings(client, limit_batch_size=2)
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200 and len(response.json()["images"]) == 2


def test_the_ui_refuses_the_same_limits_with_a_notice(ctx: AtelierContext) -> None:
    form = {"prompt": "x", **FAST, "width": 4096, "height": 4096}
    with pytest.raises(UserError, match="limit_output_megapixels"):
        ui_actions.submit_form(ctx, "txt2img", form)
    with pytest.raises(UserError, match="limit_prompt_chars"):
        ui_actions.submit_form(ctx, "txt2img", {**form, "width": 64, "height": 64, "prompt": "z" * 1_000_000})
    assert ctx.queue.waiting == 0 and ctx.queue.current is None
    assert "limit_prompt_chars" in ui_actions.token_counter(ctx, "z" * 1_000_000)


def test_the_ui_refuses_an_uploaded_image_over_the_pixel_limit(ctx: AtelierContext, client: TestClient,
                                                               settings: Any) -> None:
    settings(client, limit_input_megapixels=0.5)
    form = {"prompt": "x", **FAST, "img2img_mode": "img2img", "init_image": Image.new("RGB", (1024, 1024), "red")}
    with pytest.raises(UserError, match="limit_input_megapixels"):
        ui_actions.submit_form(ctx, "img2img", form)


def test_the_settings_tab_changes_a_limit_and_refuses_a_bad_one(ctx: AtelierContext) -> None:
    from webui.ui.settings import actions as settings_actions

    values = dict(zip(settings_actions.TAB_KEYS, settings_actions.tab_values(ctx)))
    try:
        settings_actions.apply_tab(ctx, {**values, "limit_batch_size": 2})
        assert ctx.engine.limits.batch_size == 2
        with pytest.raises(UserError, match="limit_batch_size"):
            settings_actions.apply_tab(ctx, {**values, "limit_batch_size": 0})
    finally:
        settings_actions.apply_tab(ctx, values)
