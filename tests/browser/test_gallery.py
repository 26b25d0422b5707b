"""The output gallery as an A1111 user uses it: the info follows the picked image, Download gives
the saved file (its name and every PNG chunk), a wide picture is shown whole."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.saved import saved_for_prompt
from tests.test_server import Server


def test_the_info_follows_the_image_picked_in_the_gallery(atelier: AtelierPage) -> None:
    infotext = atelier.generate("txt2img", "a batch of moons", seed=1234, steps=3, width=64, height=64,
                                batch_size=3)
    assert "Seed: 1234," in infotext

    atelier.gallery_images("txt2img").nth(2).click()
    expect(atelier.info("txt2img").locator("pre.infotext")).to_contain_text("Seed: 1236,", timeout=TIMEOUT_MS)
    expect(atelier.info("txt2img")).to_contain_text("Time taken")


def test_download_gives_the_saved_file_with_its_parameters(atelier: AtelierPage, server: Server, tmp_path) -> None:
    infotext = atelier.generate("txt2img", "a downloaded bell", seed=4321, steps=3, width=64, height=64)
    (saved,) = saved_for_prompt(server, "a downloaded bell")

    atelier.gallery_images("txt2img").first.click()  # opens the preview, where Download is
    with atelier.page.expect_download(timeout=TIMEOUT_MS) as download:
        atelier.page.locator("#txt2img_gallery button[aria-label=Download]").first.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)

    assert path.name == saved.name
    assert path.read_bytes() == saved.read_bytes()  # every chunk, `parameters` included

    atelier.tab("PNG Info")
    atelier.upload("pnginfo_image", path)
    expect(atelier.page.locator("#pnginfo_text textarea")).to_have_value(infotext, timeout=TIMEOUT_MS)


def test_a_wide_picture_is_shown_whole_in_the_gallery(atelier: AtelierPage) -> None:
    atelier.generate("txt2img", "a wide grid stand-in", seed=9, steps=3, width=256, height=64)
    thumbnail = atelier.gallery_images("txt2img").first
    assert thumbnail.evaluate("img => getComputedStyle(img).objectFit") == "contain"
