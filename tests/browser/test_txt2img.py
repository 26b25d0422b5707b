"""txt2img in a real browser: generate, PNG Info round trip, progress + live preview, Interrupt, Skip,
two sessions at once."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Browser, expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.saved import saved_for_prompt, saved_images, saved_with_prompt, seed_of
from tests.step_gate import RemoteGate
from tests.test_server import Server

SMALL = dict(steps=3, width=64, height=64)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_txt2img_shows_the_image_and_infotext_and_saves_a_png(atelier: AtelierPage, server: Server) -> None:
    infotext = atelier.generate("txt2img", "a red lighthouse", seed=1234, **SMALL)

    assert "Steps: 3," in infotext and "Seed: 1234," in infotext and "Size: 64x64" in infotext
    expect(atelier.gallery_images("txt2img")).to_have_count(1)
    saved = saved_with_prompt(server, "a red lighthouse")
    with Image.open(saved) as image:
        assert image.size == (64, 64)
        assert image.info["parameters"] == infotext


def test_png_info_reads_back_the_generated_infotext(atelier: AtelierPage, server: Server) -> None:
    infotext = atelier.generate("txt2img", "a blue harbour", seed=77, **SMALL)
    saved = saved_with_prompt(server, "a blue harbour")

    atelier.tab("PNG Info")
    atelier.upload("pnginfo_image", saved)
    parameters = atelier.page.locator("#pnginfo_text textarea")
    expect(parameters).to_have_value(infotext, timeout=TIMEOUT_MS)


def test_a_long_job_shows_progress_and_a_live_preview_and_interrupt_ends_it_early(atelier: AtelierPage,
                                                                                 server: Server,
                                                                                 gate: RemoteGate) -> None:
    before = len(saved_images(server))
    gate.arm(step=6)  # held at step 6 of the first batch, after the step-5 live preview
    atelier.start("txt2img", "a very long night", seed=5, steps=40, n_iter=20, width=64, height=64)
    assert gate.wait()["step"] == 6
    expect(atelier.progress("txt2img")).to_contain_text(re.compile(r"step \d+/40 batch \d+/20"), timeout=TIMEOUT_MS)
    expect(atelier.progress("txt2img")).to_contain_text("step 6/40 batch 1/20", timeout=TIMEOUT_MS)
    # a preview every 5 steps (the default live preview period) replaces the gallery while it runs
    expect(atelier.page.locator("#txt2img_gallery .caption-label", has_text="preview")).to_be_visible(
        timeout=TIMEOUT_MS)
    atelier.press("txt2img_interrupt")
    gate.release()

    expect(atelier.info("txt2img")).to_contain_text("interrupted", timeout=TIMEOUT_MS)
    made = len(saved_images(server)) - before
    assert made < 20, f"Interrupt did not stop the batch: {made} of 20 images saved"
    expect(atelier.gallery_images("txt2img")).to_have_count(made)

    infotext = atelier.generate("txt2img", "a short morning", seed=6, n_iter=1, **SMALL)
    assert "Seed: 6," in infotext
    expect(atelier.gallery_images("txt2img")).to_have_count(1)


def test_skip_cuts_the_current_batch_short_and_the_job_goes_on(atelier: AtelierPage, server: Server,
                                                                gate: RemoteGate) -> None:
    atelier.generate("txt2img", "a dawn", seed=300, steps=80, n_iter=1, width=64, height=64)
    gate.arm(step=10)
    atelier.start("txt2img", "a dawn", n_iter=2)
    # Skip while the first batch is held at step 10 of 80, so it cannot land after that batch ended
    held = gate.wait()
    assert (held["step"], held["batch"]) == (10, 0)
    expect(atelier.progress("txt2img")).to_contain_text(re.compile(r"step [1-5]?\d/80 batch 1/2"), timeout=TIMEOUT_MS)
    atelier.press("txt2img_skip")
    gate.release()

    expect(atelier.progress("txt2img")).to_have_text("", timeout=TIMEOUT_MS)  # cleared when the job ends
    assert "interrupted" not in atelier.info("txt2img").inner_text()
    assert atelier.captions("txt2img") == ["seed 300", "seed 301"]
    whole, skipped, _ = saved_for_prompt(server, "a dawn")
    assert seed_of(whole) == seed_of(skipped) == 300
    assert not np.array_equal(pixels(whole), pixels(skipped)), "Skip did not cut the first batch short"


def test_two_sessions_see_only_their_own_images_and_interrupt_only_their_own_job(browser: Browser,
                                                                                server: Server,
                                                                                gate: RemoteGate) -> None:
    with AtelierPage.open(browser, server.base_url) as a, AtelierPage.open(browser, server.base_url) as b:
        gate.arm(step=2)
        a.start("txt2img", "session a castle", seed=100, steps=40, n_iter=20, width=64, height=64)
        held_a = gate.wait()  # A's job is held at step 2, so B's must queue behind it
        expect(a.progress("txt2img")).to_contain_text("step", timeout=TIMEOUT_MS)
        b.start("txt2img", "session b forest", seed=200, steps=40, n_iter=4, width=64, height=64)
        expect(b.progress("txt2img")).to_contain_text("In queue", timeout=TIMEOUT_MS)

        a.press("txt2img_interrupt")
        gate.arm(step=2, not_job=held_a["job"])  # next: hold B's job while A presses Interrupt again
        gate.release()
        expect(a.info("txt2img")).to_contain_text("interrupted", timeout=TIMEOUT_MS)
        assert gate.wait()["job"] != held_a["job"]
        expect(b.progress("txt2img")).to_contain_text("step", timeout=TIMEOUT_MS)
        a.press("txt2img_interrupt")  # A has nothing running now: B, held mid-batch, must go on
        gate.release()

        infotext_b = b.wait_result("txt2img", "session b forest")
        assert "interrupted" not in b.info("txt2img").inner_text()
        assert "Seed: 200," in infotext_b
        assert b.captions("txt2img") == ["seed 200", "seed 201", "seed 202", "seed 203"]

        infotext_a = a.info("txt2img").locator("pre.infotext")
        expect(infotext_a).to_have_text(re.compile(r"^session a castle\n"))
        captions_a = a.captions("txt2img")
        assert len(captions_a) < 20 and set(captions_a) <= {f"seed {s}" for s in range(100, 120)}, captions_a
