"""The page as a whole: keyboard shortcuts, a readable notice for a wrong input, a phone-width screen."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.conftest import ARTIFACTS
from tests.step_gate import RemoteGate
from tests.test_server import Server

PHONE = {"width": 390, "height": 844}


def test_ctrl_enter_generates_and_escape_interrupts(atelier: AtelierPage, gate: RemoteGate) -> None:
    atelier.fill_form("txt2img", "a quiet lake", seed=21, steps=3, width=64, height=64)
    atelier.page.locator("#txt2img_prompt textarea").press("Control+Enter")
    assert "Seed: 21," in atelier.wait_result("txt2img", "a quiet lake")

    atelier.fill_form("txt2img", "an endless lake", seed=22, steps=40, n_iter=20)
    gate.arm(step=3)
    atelier.page.locator("#txt2img_prompt textarea").press("Control+Enter")
    gate.wait()  # held at step 3 of the first batch until Esc has landed
    expect(atelier.progress("txt2img")).to_contain_text("step", timeout=TIMEOUT_MS)
    with atelier.answered():
        atelier.page.keyboard.press("Escape")
    gate.release()
    expect(atelier.info("txt2img")).to_contain_text("interrupted", timeout=TIMEOUT_MS)
    assert len(atelier.captions("txt2img")) < 20


def test_a_missing_mask_shows_a_notice_and_leaves_the_form_as_it_was(atelier: AtelierPage, tmp_path: Path) -> None:
    image_path = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (40, 90, 160)).save(image_path)
    atelier.tab("img2img")
    atelier.sub_tab("img2img_tab_inpaint_upload")
    atelier.upload("img2img_inpaint_upload_image", image_path)
    expect(atelier.page.locator("#img2img_inpaint_upload_image img").first).to_be_visible(timeout=TIMEOUT_MS)

    atelier.start("img2img", "no mask given", steps=3)

    expect(atelier.page.get_by_text("needs both an image and a mask")).to_be_visible(timeout=TIMEOUT_MS)
    expect(atelier.page.locator("#img2img_prompt textarea")).to_have_value("no mask given")
    expect(atelier.page.locator("#img2img_steps input[type=number]")).to_have_value("3")
    expect(atelier.page.locator("#img2img_inpaint_upload_image img").first).to_be_visible()
    expect(atelier.gallery_images("img2img")).to_have_count(0)


def test_the_page_fits_a_phone_width_screen_and_generates(browser: Browser, server: Server) -> None:
    with AtelierPage.open(browser, server.base_url, viewport=PHONE) as phone:
        page_width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= PHONE["width"], f"the page scrolls sideways: {page_width}px on a {PHONE['width']}px screen"
        box = phone.page.locator("#txt2img_generate").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        folder = ARTIFACTS / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        phone.page.screenshot(path=str(folder / "phone-txt2img.png"), full_page=True)
        assert "Seed: 31," in phone.generate("txt2img", "a small screen", seed=31, steps=3, width=64, height=64)
