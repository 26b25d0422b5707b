"""Values that live on the server are read when a page opens (not when the UI was built), and a
first run without models can be fixed from the page: 🔄 beside the checkpoint dropdown."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.test_server import Server, running_server


def test_a_new_page_shows_the_checkpoint_styles_and_notice_as_they_are_now(browser: Browser,
                                                                          server: Server) -> None:
    with AtelierPage.open(browser, server.base_url) as first:
        first.tab("Models")
        first.tab("Checkpoints")
        first.page.locator("#models_checkpoint_cards [data-card]", has_text="tiny-sd1-b").click()
        expect(first.page.locator("#models_details")).to_contain_text("Loaded", timeout=TIMEOUT_MS)
        first.tab("txt2img")
        first.fill("txt2img_prompt", "a style made in another tab")
        first.open_accordion("Save / delete style")
        first.fill("txt2img_style_name", "loaded-later")
        first.page.locator("#txt2img_style_save").click()
        expect(first.page.locator("#txt2img_style_name textarea, #txt2img_style_name input").first).to_have_value(
            "", timeout=TIMEOUT_MS)
        first.tab("Faces")
        first.page.locator("#faces_notice_ack").click()
        expect(first.page.locator("#faces_notice_ack")).to_be_hidden(timeout=TIMEOUT_MS)
    try:
        with AtelierPage.open(browser, server.base_url) as second:
            expect(second.page.locator("#quick_checkpoint input")).to_have_value(
                re.compile(r"tiny-sd1-b\b"), timeout=TIMEOUT_MS)
            second.tab("img2img")
            second.page.locator("#img2img_styles input").click()
            expect(second.page.locator("[role=option]", has_text="loaded-later").first).to_be_visible(
                timeout=TIMEOUT_MS)
            second.tab("Faces")
            expect(second.page.locator("#faces_notice_ack")).to_be_hidden(timeout=TIMEOUT_MS)
    finally:  # the other tests expect the package's default checkpoint
        server.json("POST", "/sdapi/v1/options", {"sd_model_checkpoint": "tiny-sd1"})


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[Server]:
    """A first run: the models folder is empty."""
    (tmp_path / "models").mkdir()
    with running_server(tmp_path, tmp_path / "models") as running:
        yield running


def test_refresh_beside_the_checkpoint_finds_new_models_and_the_banner_goes(browser: Browser, empty_server: Server,
                                                                           tiny_models_dir: Path,
                                                                           tmp_path: Path) -> None:
    with AtelierPage.open(browser, empty_server.base_url) as atelier:
        banner = atelier.page.locator("#quick_status")
        expect(banner).to_contain_text("No Stable Diffusion checkpoint found", timeout=TIMEOUT_MS)

        folder = tmp_path / "models" / "Stable-diffusion"
        folder.mkdir()
        shutil.copy(tiny_models_dir / "Stable-diffusion" / "tiny-sd1.safetensors", folder)
        shutil.copytree(tiny_models_dir / "Stable-diffusion" / "tiny-sd1.config", folder / "tiny-sd1.config")
        (folder / "broken.safetensors").write_bytes(b"not a checkpoint")
        atelier.page.locator("#quick_checkpoint_refresh").click()

        expect(banner).not_to_contain_text("No Stable Diffusion checkpoint found", timeout=TIMEOUT_MS)
        expect(atelier.page.locator("#quick_checkpoint input")).to_have_value(re.compile(r"^tiny-sd1\.safetensors"),
                                                                              timeout=TIMEOUT_MS)
        atelier.tab("Models")
        atelier.tab("Checkpoints")
        broken = atelier.page.locator("#models_checkpoint_cards [data-card]", has_text="broken")
        expect(broken).to_contain_text("unusable", timeout=TIMEOUT_MS)
        expect(broken).not_to_contain_text("hashing")
