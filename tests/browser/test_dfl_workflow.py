"""DeepFaceLab's workflow in a real browser: Faces tab → "Train a face model": two clips uploaded,
frames and facesets extracted (the gallery shows the faces), a few training iterations with the preview
grid, a merged-frame preview, then the merged mp4 — with the destination's audio — on disk and in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage
from tests.browser.conftest import ARTIFACTS
from tests.dfl_clips import write_clip
from tests.test_server import Server, running_server
from tests.video_factory import probe_streams

LONG_MS = 4 * TIMEOUT_MS  # extraction and training on two busy cores


@pytest.fixture(scope="module")
def dfl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Its own server over an empty models folder, so the trained model lands nowhere shared."""
    root = tmp_path_factory.mktemp("dfl-browser")
    (root / "models").mkdir()
    with running_server(root, root / "models") as running:
        yield running


def commit(atelier: AtelierPage, elem_id: str, text: str) -> None:
    """Type a value into a dropdown that accepts new values, and commit it."""
    box = atelier.page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(text)
    box.press("Enter")
    box.blur()


def test_extract_train_merge_to_mp4_with_audio(browser, dfl_server: Server, tmp_path: Path) -> None:
    src = write_clip(tmp_path / "astronaut.mp4", "astronaut", frames=8)
    dst = write_clip(tmp_path / "hopper.mp4", "hopper", frames=8, size=256)
    with AtelierPage.open(browser, dfl_server.base_url) as atelier:
        page = atelier.page
        atelier.tab("Faces")
        page.locator("#faces_notice_ack").click()  # merging swaps faces: the responsible-use notice first
        expect(page.locator("#faces_notice_ack")).to_be_hidden(timeout=TIMEOUT_MS)
        atelier.open_accordion("Train a face model")
        commit(atelier, "dfl_workspace", "browser")
        status = page.locator("#dfl_status")
        for side, clip in (("src", src), ("dst", dst)):
            atelier.upload(f"dfl_{side}_files", clip)
            expect(page.locator(f"#dfl_{side}_files")).to_contain_text(clip.name, timeout=TIMEOUT_MS)
            page.locator(f"#dfl_{side}_frames").click()
            expect(status).to_contain_text(f"{side}: 8 frames at 12 fps, with audio", timeout=LONG_MS)

        atelier.sub_tab("dfl_tab_faceset")
        atelier.set_number("dfl_size", 64)
        for side in ("src", "dst"):
            page.locator("#dfl_side label", has_text=side).click()
            page.locator("#dfl_extract").click()
            expect(status).to_contain_text(f"{side}: 8 faces from 8 frames", timeout=LONG_MS)
            expect(page.locator("#dfl_gallery img")).to_have_count(8, timeout=TIMEOUT_MS)
        expect(page.locator("#dfl_summary")).to_contain_text("dst: 8 frames, 8 aligned faces")

        atelier.sub_tab("dfl_tab_train")
        commit(atelier, "dfl_model", "tiny")
        atelier.open_accordion("Model options")
        for elem_id, value in (("dfl_resolution", 32), ("dfl_ae_dims", 32), ("dfl_e_dims", 8), ("dfl_d_dims", 8),
                               ("dfl_d_mask_dims", 4), ("dfl_batch", 2), ("dfl_iterations", 3),
                               ("dfl_preview_every", 1)):
            atelier.set_number(elem_id, value)
        page.locator("#dfl_train").click()
        expect(page.locator("#dfl_train_status")).to_contain_text("Finished at iteration 3", timeout=LONG_MS)
        expect(page.locator("#dfl_preview img")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator("#dfl_loss img")).to_be_visible(timeout=TIMEOUT_MS)
        page.screenshot(path=str(ARTIFACTS / "screenshots" / "dfl-train.png"), full_page=True)

        atelier.sub_tab("dfl_tab_merge")
        commit(atelier, "dfl_merge_model", "tiny")
        atelier.set_number("dfl_frame", 3)
        page.locator("#dfl_preview_frame").click()
        expect(page.locator("#dfl_merged_frame img")).to_be_visible(timeout=LONG_MS)
        page.locator("#dfl_merge").click()
        expect(page.locator("#dfl_merge_status")).to_contain_text("8 frames, 8 faces merged", timeout=LONG_MS)
        expect(page.locator("#dfl_video video")).to_have_count(1, timeout=TIMEOUT_MS)
        page.screenshot(path=str(ARTIFACTS / "screenshots" / "dfl-merge.png"), full_page=True)

    videos = list((dfl_server.data_dir / "outputs" / "dfl-merged").rglob("*.mp4"))
    assert len(videos) == 1
    streams = probe_streams(videos[0])
    assert streams["frames"] == 8 and streams["fps"] == 12 and streams["audio_codec"] == "aac"
