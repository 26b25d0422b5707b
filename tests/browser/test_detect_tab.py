"""Detect tab in a real browser: a file dropped as it is (no re-encoding) shows its provenance."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.saved import saved_with_prompt
from tests.test_server import Server


def test_an_image_made_here_is_recognised_from_its_file(atelier: AtelierPage, server: Server) -> None:
    atelier.generate("txt2img", "a marked field", seed=61, steps=3, width=64, height=64)
    saved = saved_with_prompt(server, "a marked field")

    atelier.tab("Detect")
    atelier.upload("detect_image", saved)

    expect(atelier.page.locator("#detect_verdict")).to_contain_text("Made by Atelier", timeout=TIMEOUT_MS)
    infotext_row = atelier.page.locator("#detect_signals").get_by_role("row").filter(has_text="Infotext")
    expect(infotext_row).to_contain_text("yes", timeout=TIMEOUT_MS)
