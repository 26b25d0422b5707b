"""The UI's named endpoints through gradio_client against a real server (``launch.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipelines.outputs import read_infotext
from tests.test_server import running_server

pytestmark = pytest.mark.e2e  # a real launch.py server process


def test_gradio_client_calls_the_named_txt2img_img2img_and_png_info_endpoints(tmp_path: Path, tiny_models_dir: Path) -> None:
    from gradio_client import Client, handle_file

    with running_server(tmp_path, tiny_models_dir) as server:
        client = Client(server.base_url + "/", verbose=False, download_files=str(tmp_path / "downloads"))
        try:
            # docs/api.md's "gradio_client" example, only smaller: every field left out is optional
            gallery, info, _progress = client.predict(prompt="a lighthouse", steps=3, width=64, height=64, seed=5,
                                                      sampler_name="Euler", api_name="/txt2img")
            assert [item["caption"] for item in gallery] == ["seed 5"]
            assert "a lighthouse" in info and "Seed: 5" in info and "Size: 64x64" in info
            first = Path(gallery[0]["image"])
            assert Image.open(first).size == (64, 64)
            saved = sorted((tmp_path / "data" / "outputs" / "txt2img-images").glob("*/*.png"))
            assert len(saved) == 1 and "Seed: 5" in read_infotext(Image.open(saved[0]))

            gallery, info, _ = client.predict(prompt="a harbour", steps=3, width=64, height=64, seed=9,
                                              sampler_name="Euler", denoising_strength=0.5,
                                              init_image=handle_file(str(first)), api_name="/img2img")
            assert len(gallery) == 1 and "a harbour" in info and "Denoising strength: 0.5" in info

            text, fields = client.predict(handle_file(str(saved[0])), api_name="/png_info")
            assert "Seed: 5" in text and fields["seed"] == 5
        finally:
            client.close()
