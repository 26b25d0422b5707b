"""A screenshot of every tab under test-artifacts/screenshots/, each after its key element shows."""

from __future__ import annotations

import re
from typing import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.conftest import ARTIFACTS

# tab label -> the element that shows the tab is really there (not just its button)
KEY_ELEMENTS: dict[str, Callable[[Page], Locator]] = {
    "txt2img": lambda page: page.locator("#txt2img_generate"),
    "img2img": lambda page: page.locator("#img2img_generate"),
    "Faces": lambda page: page.locator("#faces_source_image"),
    "Detect": lambda page: page.get_by_text(re.compile("Provenance")),
    "PNG Info": lambda page: page.locator("#pnginfo_image"),
    "Models": lambda page: page.get_by_role("button", name=re.compile("Refresh")),
    "Settings": lambda page: page.get_by_text("File format for images"),
}


def test_every_tab_shows_its_key_element_and_is_saved_as_a_screenshot(atelier: AtelierPage) -> None:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for number, (label, key_element) in enumerate(KEY_ELEMENTS.items(), 1):
        atelier.tab(label)
        expect(key_element(atelier.page).filter(visible=True).first).to_be_visible(timeout=TIMEOUT_MS)
        path = folder / f"{number}-{label.lower().replace(' ', '-')}.png"
        atelier.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, f"{path} looks empty"
