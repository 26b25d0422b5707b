"""Issue #12 item 6: ``/interrupt`` reaches inside the long calls that have no sampler step:
the VAE decode (tiled or not), the hires fix's model upscaler and Extras' upscaler.

The interrupt is sent through the HTTP route at a known point inside the call (a hook on one
of the network's layers makes the request when that layer is reached), so the test needs no
timing: the layers after that point must not run, and the cut image is discarded. On the old
code the call ran to its end and the image was returned.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Callable

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.extras.rrdbnet import RRDBNet

FAST = {"prompt": "a fox", "width": 64, "height": 64, "steps": 2, "sampler_name": "Euler", "seed": 1}


@pytest.fixture(scope="module", autouse=True)
def model_loaded(client: TestClient) -> None:
    assert client.post("/sdapi/v1/txt2img", json=FAST).status_code == 200  # loads the model


class LayerWatch:
    """At the ``at``-th call of a ``trigger`` layer it POSTs /interrupt; then counts the calls of
    ``count`` layers that still started after that."""

    def __init__(self, client: TestClient, trigger: Callable[[torch.nn.Module], bool], at: int = 1) -> None:
        self.client, self.trigger, self.at = client, trigger, at
        self.triggers, self.counted, self.interrupt_status = 0, 0, None
        self.count: Callable[[torch.nn.Module], bool] = lambda module: False

    def __call__(self, module: torch.nn.Module, args: Any) -> None:
        if self.interrupt_status is not None and self.count(module):
            self.counted += 1
        if self.trigger(module):
            self.triggers += 1
            if self.triggers == self.at:
                self.interrupt_status = self.client.post("/sdapi/v1/interrupt").status_code

    def __enter__(self) -> "LayerWatch":
        self.handle = torch.nn.modules.module.register_module_forward_pre_hook(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()


@pytest.mark.parametrize("tiled", [False, True])
def test_interrupt_during_the_vae_decode_stops_it_and_discards_the_image(client: TestClient, ctx: AtelierContext,
                                                                         tiled: bool) -> None:
    vae = ctx.manager.current.components["vae"]
    decoder = vae.decoder
    saved_before = sorted(ctx.outputs_dir.rglob("*.png"))
    if tiled:  # 8x8 latents in 4x4 tiles: one decoder call per tile
        vae.use_tiling, vae.tile_latent_min_size, vae.tile_sample_min_size = True, 4, 32
    try:
        # tiled: interrupt inside the second tile; else inside the only decode
        with LayerWatch(client, lambda m: m is decoder.mid_block, at=2 if tiled else 1) as watch:
            watch.count = lambda m: m is decoder.conv_out
            response = client.post("/sdapi/v1/txt2img", json={**FAST, "n_iter": 2, "save_images": True})
    finally:
        vae.use_tiling = False
    assert watch.interrupt_status == 200
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["images"] == [] and json.loads(body["info"])["interrupted"] is True
    assert watch.triggers == (2 if tiled else 1)  # no tile and no batch started after the interrupt
    assert watch.counted == 0  # the decoder's last layer never ran after the interrupt
    assert sorted(ctx.outputs_dir.rglob("*.png")) == saved_before


def test_interrupt_during_a_sampling_step_still_decodes_the_partial_image(client: TestClient) -> None:
    """An interrupt *before* the decode keeps A1111's behaviour: the partial image is returned."""
    with LayerWatch(client, lambda m: type(m).__name__ == "UNet2DConditionModel") as watch:
        response = client.post("/sdapi/v1/txt2img", json={**FAST, "steps": 4, "n_iter": 2})
    assert watch.interrupt_status == 200 and response.status_code == 200
    assert len(response.json()["images"]) == 1 and json.loads(response.json()["info"])["interrupted"] is True


def test_interrupt_during_the_hires_model_upscale_stops_it(client: TestClient) -> None:
    body = {**FAST, "enable_hr": True, "hr_scale": 2, "hr_upscaler": "tiny-esrgan-4x", "hr_second_pass_steps": 1}
    with LayerWatch(client, lambda m: type(m).__name__ == "_RRDB") as watch:  # inside the first tile
        watch.count = lambda m: isinstance(m, (RRDBNet, torch.nn.Conv2d))
        response = client.post("/sdapi/v1/txt2img", json=body)
    assert watch.interrupt_status == 200 and watch.triggers == 1
    assert response.status_code == 200 and response.json()["images"] == []
    assert watch.counted == 0  # not one layer of the upscaler ran after the interrupt


def test_interrupt_during_an_extras_upscale_answers_409(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(buffer, format="PNG")
    body = {"image": base64.b64encode(buffer.getvalue()).decode(), "upscaler_1": "tiny-esrgan-4x",
            "upscaling_resize": 4}
    with LayerWatch(client, lambda m: type(m).__name__ == "_RRDB") as watch:
        watch.count = lambda m: isinstance(m, (RRDBNet, torch.nn.Conv2d))
        response = client.post("/sdapi/v1/extra-single-image", json=body)
    assert watch.interrupt_status == 200
    assert response.status_code == 409, response.text
    assert "interrupted" in response.json()["detail"] and watch.counted == 0
