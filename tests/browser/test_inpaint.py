"""Inpaint upload in a real browser: image + mask files in, only the masked area repainted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.saved import saved_with_prompt
from tests.test_server import Server


def write_source_and_mask(folder: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A 64x64 patterned picture and a mask that is white (repaint) on a 24x24 square."""
    y, x = np.mgrid[0:64, 0:64]
    pixels = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 255
    image_path, mask_path = folder / "source.png", folder / "mask.png"
    Image.fromarray(pixels, "RGB").save(image_path)
    Image.fromarray(mask, "L").save(mask_path)
    return image_path, mask_path, pixels, mask


def test_inpaint_upload_repaints_inside_the_mask_and_keeps_every_pixel_outside(
        atelier: AtelierPage, server: Server, tmp_path: Path) -> None:
    image_path, mask_path, pixels, mask = write_source_and_mask(tmp_path)
    atelier.tab("img2img")
    options = atelier.page.locator("button.label-wrap", has_text="Inpaint options")
    expect(atelier.page.locator("#img2img_resize_mode")).to_be_visible()
    expect(options).to_be_hidden()  # plain img2img uses no mask: no inpaint options
    atelier.sub_tab("img2img_tab_inpaint_upload")
    expect(options).to_be_visible(timeout=TIMEOUT_MS)
    for elem_id, path in (("img2img_inpaint_upload_image", image_path), ("img2img_inpaint_upload_mask", mask_path)):
        atelier.upload(elem_id, path)
        expect(atelier.page.locator(f"#{elem_id} img").first).to_be_visible(timeout=TIMEOUT_MS)

    atelier.open_accordion("Inpaint options")
    infotext = atelier.generate("img2img", "a mossy stone", seed=9, steps=3, width=64, height=64, mask_blur=0)

    assert "Denoising strength: 0.75" in infotext and "Mask blur" not in infotext, infotext  # blur 0 is not written
    with Image.open(saved_with_prompt(server, "a mossy stone", "img2img")) as saved:
        result = np.asarray(saved.convert("RGB"))
    outside = mask == 0
    assert np.array_equal(result[outside], pixels[outside]), "pixels outside the mask changed"
    changed = np.abs(result[~outside].astype(int) - pixels[~outside]).mean()
    assert changed > 5, f"the masked square was not repainted (mean change {changed:.1f})"


def test_a_missing_mask_is_a_notice_and_one_log_line_not_a_traceback(atelier: AtelierPage, server: Server,
                                                                     tmp_path: Path) -> None:
    image_path, _, _, _ = write_source_and_mask(tmp_path)
    atelier.tab("img2img")
    atelier.sub_tab("img2img_tab_inpaint_upload")
    atelier.upload("img2img_inpaint_upload_image", image_path)
    expect(atelier.page.locator("#img2img_inpaint_upload_image img").first).to_be_visible(timeout=TIMEOUT_MS)
    logged = len(server.log.read_text(errors="replace"))

    atelier.start("img2img", "a maskless stone", seed=9, steps=3, width=64, height=64)
    expect(atelier.page.get_by_text("Inpaint upload needs both an image and a mask").first).to_be_visible(
        timeout=TIMEOUT_MS)
    new_lines = server.log.read_text(errors="replace")[logged:]
    assert "Traceback" not in new_lines, new_lines
    assert [line for line in new_lines.splitlines() if "needs both an image and a mask" in line], new_lines
