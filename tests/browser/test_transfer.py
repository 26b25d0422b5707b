"""Parameters travel through the page: Send to img2img, and an infotext pasted into the prompt box."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage


def expect_number(atelier: AtelierPage, elem_id: str, value: str) -> None:
    expect(atelier.page.locator(f"#{elem_id} input[type=number]")).to_have_value(value, timeout=TIMEOUT_MS)


def test_send_to_img2img_carries_the_picture_and_its_parameters(atelier: AtelierPage) -> None:
    atelier.generate("txt2img", "a sent harbour", seed=41, steps=3, width=64, height=64)
    atelier.page.locator("#txt2img_send_to_img2img").click()

    expect(atelier.page.locator("button[role=tab][data-tab-id=img2img]").first).to_have_attribute(
        "aria-selected", "true", timeout=TIMEOUT_MS)
    expect(atelier.page.locator("#img2img_image img").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(atelier.page.locator("#img2img_prompt textarea")).to_have_value("a sent harbour", timeout=TIMEOUT_MS)
    for elem_id, value in (("img2img_seed", "41"), ("img2img_steps", "3"), ("img2img_width", "64")):
        expect_number(atelier, elem_id, value)

    atelier.page.locator("#img2img_generate").click()
    infotext = atelier.wait_result("img2img", "a sent harbour")
    assert "Seed: 41," in infotext and "Denoising strength" in infotext, infotext


def test_read_generation_parameters_fills_the_form_and_generates_with_it(atelier: AtelierPage) -> None:
    pasted = ("a pasted cat\nNegative prompt: blur\n"
              "Steps: 4, Sampler: Euler, CFG scale: 4.5, Seed: 99, Size: 96x64")
    atelier.fill("txt2img_prompt", pasted)
    atelier.page.locator("#txt2img_read_params").click()

    expect(atelier.page.locator("#txt2img_prompt textarea")).to_have_value("a pasted cat", timeout=TIMEOUT_MS)
    expect(atelier.page.locator("#txt2img_neg_prompt textarea")).to_have_value("blur")
    expect(atelier.page.locator("#txt2img_sampler input")).to_have_value("Euler")
    for elem_id, value in (("txt2img_steps", "4"), ("txt2img_seed", "99"), ("txt2img_width", "96"),
                           ("txt2img_height", "64"), ("txt2img_cfg_scale", "4.5")):
        expect_number(atelier, elem_id, value)

    atelier.page.locator("#txt2img_generate").click()
    infotext = atelier.wait_result("txt2img", "a pasted cat")
    for part in ("Negative prompt: blur", "Steps: 4,", "Sampler: Euler,", "CFG scale: 4.5,", "Seed: 99,", "Size: 96x64"):
        assert part in infotext, (part, infotext)


def test_read_generation_parameters_applies_clip_skip_and_model_and_opens_hires_fix(atelier: AtelierPage,
                                                                                     server) -> None:
    pasted = ("a pasted tower\nSteps: 3, Sampler: Euler, CFG scale: 5, Seed: 12, Size: 64x64, "
              "Model: tiny-sd1-b, Clip skip: 2, Denoising strength: 0.5, Hires upscale: 1.5, Hires upscaler: Latent")
    try:
        atelier.fill("txt2img_prompt", pasted)
        atelier.page.locator("#txt2img_read_params").click()

        expect(atelier.page.locator("#txt2img_prompt textarea")).to_have_value("a pasted tower", timeout=TIMEOUT_MS)
        expect_number(atelier, "quick_clip_skip", "2")
        expect(atelier.page.locator("#quick_checkpoint input")).to_have_value(re.compile(r"tiny-sd1-b\b"),
                                                                              timeout=TIMEOUT_MS)
        expect(atelier.page.locator("#txt2img_enable_hr input")).to_be_checked(timeout=TIMEOUT_MS)  # the section is open
        expect_number(atelier, "txt2img_hr_scale", "1.5")

        atelier.fill("txt2img_prompt", "a second tower\nSteps: 3, Seed: 13, Size: 64x64, Model: not-here")
        atelier.page.locator("#txt2img_read_params").click()
        expect(atelier.page.get_by_text("'not-here' of the infotext is not in the models folder")).to_be_visible(
            timeout=TIMEOUT_MS)

        atelier.page.locator("#txt2img_generate").click()
        infotext = atelier.wait_result("txt2img", "a second tower")
        assert "Clip skip: 2" in infotext and "Model: tiny-sd1-b" in infotext, infotext
    finally:  # the other tests expect the package's defaults
        server.json("POST", "/sdapi/v1/options", {"sd_model_checkpoint": "tiny-sd1", "CLIP_stop_at_last_layers": 1})
