"""The UI's named endpoints through gradio_client against a real server (``launch.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipelines.outputs import read_infotext
from tests.test_server import running_server

pytestmark = pytest.mark.e2e  # a real launch.py server process


def _optional_images(client, endpoint: str) -> dict[str, None]:
    """None for each input without a default (image inputs, e.g. of always-on scripts)."""
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"][endpoint]
    return {p["parameter_name"]: None for p in info["parameters"] if not p["parameter_has_default"]}


def test_gradio_client_calls_the_named_txt2img_img2img_and_png_info_endpoints(tmp_path: Path, tiny_models_dir: Path) -> None:
    from gradio_client import Client, handle_file

    with running_server(tmp_path, tiny_models_dir) as server:
        client = Client(server.base_url + "/", verbose=False, download_files=str(tmp_path / "downloads"))
        try:
            form = {"prompt": "a lighthouse", "steps": 3, "width": 64, "height": 64, "seed": 5, "sampler_name": "Euler"}
            gallery, info, _progress = client.predict(**_optional_images(client, "/txt2img"), **form,
                                                      api_name="/txt2img")
            assert [item["caption"] for item in gallery] == ["seed 5"]
            assert "a lighthouse" in info and "Seed: 5" in info and "Size: 64x64" in info
            first = Path(gallery[0]["image"])
            assert Image.open(first).size == (64, 64)
            saved = sorted((tmp_path / "data" / "outputs" / "txt2img-images").glob("*/*.png"))
            assert len(saved) == 1 and "Seed: 5" in read_infotext(Image.open(saved[0]))

            img2img = {**_optional_images(client, "/img2img"), **form, "prompt": "a harbour", "seed": 9,
                       "denoising_strength": 0.5, "init_image": handle_file(str(first))}
            gallery, info, _ = client.predict(**img2img, api_name="/img2img")
            assert len(gallery) == 1 and "a harbour" in info and "Denoising strength: 0.5" in info

            text, fields = client.predict(handle_file(str(saved[0])), api_name="/png_info")
            assert "Seed: 5" in text and fields["seed"] == 5
        finally:
            client.close()
