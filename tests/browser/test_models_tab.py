"""Models tab in a real browser: a card click (the tab's own JavaScript) puts a LoRA into the prompt."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage


def test_clicking_a_lora_card_inserts_its_tag_and_the_next_image_uses_it(atelier: AtelierPage) -> None:
    atelier.fill("txt2img_prompt", "a glass tower")
    atelier.tab("Models")
    atelier.tab("LoRA")
    atelier.page.locator("#models_lora_cards [data-card]", has_text="tiny-lora").click()

    expect(atelier.page.locator("#models_details")).to_contain_text("tiny-lora", timeout=TIMEOUT_MS)
    prompt = atelier.page.locator("#txt2img_prompt textarea")
    expect(prompt).to_have_value("a glass tower, <lora:tiny-lora:1>", timeout=TIMEOUT_MS)
    notice = atelier.page.locator("#models_notice")
    expect(notice).to_contain_text("Added <lora:tiny-lora:1> to the txt2img prompt", timeout=TIMEOUT_MS)
    expect(notice.locator("a")).to_have_count(0)  # the tag is text, not a link

    atelier.tab("txt2img")
    for name, value in dict(seed=51, steps=3, width=64, height=64).items():
        atelier.set_number(f"txt2img_{name}", value)
    atelier.page.locator("#txt2img_generate").click()
    infotext = atelier.wait_result("txt2img", "a glass tower, <lora:tiny-lora:1>")
    assert "Lora hashes: " in infotext and "tiny-lora: " in infotext, infotext
