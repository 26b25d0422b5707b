"""Settings applied in the browser are in config.json, shown again after a restart, and used."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, expect

from pipelines.outputs import read_infotext
from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.conftest import write_settings
from tests.browser.saved import saved_images
from tests.test_server import running_server


def test_settings_survive_a_restart_and_the_next_image_uses_them(browser: Browser, tiny_models_dir: Path,
                                                                 tmp_path: Path) -> None:
    write_settings(tmp_path / "data", sd_model_checkpoint="tiny-sd1")
    with running_server(tmp_path, tiny_models_dir) as server:
        with AtelierPage.open(browser, server.base_url) as atelier:
            atelier.tab("Settings")
            atelier.page.locator("#setting_samples_format").get_by_label("jpg", exact=True).check()
            atelier.set_number("setting_show_progress_every_n_steps", 3)
            atelier.page.locator("#settings_apply").click()
            expect(atelier.page.locator("#settings_status")).to_contain_text("saved", timeout=TIMEOUT_MS)
    saved = json.loads((tmp_path / "data" / "config.json").read_text(encoding="utf-8"))
    assert saved["samples_format"] == "jpg" and saved["show_progress_every_n_steps"] == 3, saved

    with running_server(tmp_path, tiny_models_dir) as server:  # the same data dir
        with AtelierPage.open(browser, server.base_url) as atelier:
            atelier.tab("Settings")
            expect(atelier.page.locator("#setting_samples_format").get_by_label("jpg", exact=True)).to_be_checked()
            expect(atelier.page.locator("#setting_show_progress_every_n_steps input[type=number]")).to_have_value("3")
            atelier.tab("txt2img")
            infotext = atelier.generate("txt2img", "after the restart", seed=3, steps=3, width=64, height=64)
        assert saved_images(server, suffix="png") == []
        [written] = saved_images(server, suffix="jpg")
        with Image.open(written) as image:
            assert image.format == "JPEG" and image.size == (64, 64)
            assert read_infotext(image) == infotext
