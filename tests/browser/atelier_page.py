"""What a person does in the Atelier page, as Playwright steps with explicit waits.

Gradio 6 DOM: tabs are ``button[role=tab]``, a slider's typed value is the
``input[type=number]`` inside ``#<elem_id>``, an image upload is the ``input[type=file]``
inside the image's block, a gallery's images are ``img`` elements inside ``#<elem_id>``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

# CI has two busy cores: a step may wait on another process for a while.
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 900}


class AtelierPage:
    """One browser context (its own Gradio session) showing the Atelier UI."""

    def __init__(self, page: "Page") -> None:
        self.page = page

    @classmethod
    @contextmanager
    def open(cls, browser: "Browser", base_url: str, viewport: Optional[dict[str, int]] = None) -> Iterator["AtelierPage"]:
        """Load the UI in a fresh context; the context is closed afterwards."""
        context = browser.new_context(viewport=viewport or VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()
            page.goto(base_url)
            page.locator("#txt2img_generate").wait_for(state="visible")
            yield cls(page)
        finally:
            context.close()

    def tab(self, label: str) -> None:
        """Click a tab by its label (the first one, i.e. the top-level tab) and wait until it is selected."""
        button = self.page.locator("button[role=tab]", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
        button.first.click()
        expect(button.first).to_have_attribute("aria-selected", "true", timeout=TIMEOUT_MS)

    def sub_tab(self, elem_id: str) -> None:
        """Click a tab by its ``elem_id`` (Gradio names its button ``<elem_id>-button`` and renders
        the panel only once it is selected) and wait for the panel."""
        button = self.page.locator(f"#{elem_id}-button")
        button.click()
        expect(button).to_have_attribute("aria-selected", "true", timeout=TIMEOUT_MS)
        self.page.locator(f"#{elem_id}").wait_for(state="visible")

    def open_accordion(self, label: str) -> None:
        """Open a closed accordion (Gradio renders its contents only once opened)."""
        header = self.page.locator("button.label-wrap", has_text=label).filter(visible=True).first
        if "open" not in (header.get_attribute("class") or "").split():
            header.click()
        expect(header).to_have_class(re.compile(r"\bopen\b"), timeout=TIMEOUT_MS)

    def fill(self, elem_id: str, text: str) -> None:
        """Type into a textbox (``textarea`` or ``input``) and commit it with a blur."""
        box = self.page.locator(f"#{elem_id} textarea, #{elem_id} input").first
        box.fill(text)
        box.blur()

    def set_number(self, elem_id: str, value: float) -> None:
        """Set a slider or number field through its typed box (Enter commits it)."""
        box = self.page.locator(f"#{elem_id} input[type=number]")
        box.fill(str(value))
        box.press("Enter")
        box.blur()

    def upload(self, elem_id: str, path: Path) -> None:
        """Put a file into an image / file component, as choosing it in the file dialog does."""
        self.page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))

    def gallery_images(self, kind: str) -> "Locator":
        return self.page.locator(f"#{kind}_gallery img")

    def captions(self, kind: str) -> list[str]:
        """The gallery's captions ("seed N" for each finished image)."""
        return self.page.locator(f"#{kind}_gallery .caption-label").all_inner_texts()

    def info(self, kind: str) -> "Locator":
        return self.page.locator(f"#{kind}_info")

    def progress(self, kind: str) -> "Locator":
        return self.page.locator(f"#{kind}_progress")

    def fill_form(self, kind: str, prompt: str, **numbers: float) -> None:
        """Fill the prompt and numeric fields (``steps=3`` sets ``#<kind>_steps``)."""
        self.fill(f"{kind}_prompt", prompt)
        for name, value in numbers.items():
            self.set_number(f"{kind}_{name}", value)

    @contextmanager
    def answered(self) -> Iterator[None]:
        """Wait until the server has answered the button handler the block triggers (Interrupt and
        Skip run outside the queue), so a held job is released only once its flag is set."""
        with self.page.expect_response(lambda r: r.request.method == "POST" and "/run/" in r.url,
                                       timeout=TIMEOUT_MS):
            yield

    def press(self, elem_id: str) -> None:
        """Click an unqueued button (``txt2img_interrupt``…) and wait for the server's answer."""
        with self.answered():
            self.page.locator(f"#{elem_id}").click()

    def start(self, kind: str, prompt: str, **numbers: float) -> None:
        """:meth:`fill_form`, then click Generate."""
        self.fill_form(kind, prompt, **numbers)
        self.page.locator(f"#{kind}_generate").click()

    def generate(self, kind: str, prompt: str, **numbers: float) -> str:
        """:meth:`start`, then wait for the finished result; returns the infotext under the gallery."""
        self.start(kind, prompt, **numbers)
        return self.wait_result(kind, prompt)

    def wait_result(self, kind: str, prompt: str) -> str:
        """The infotext of the finished generation whose prompt is ``prompt``."""
        infotext = self.info(kind).locator("pre.infotext")
        expect(infotext).to_have_text(re.compile("^" + re.escape(prompt) + r"(\n|$)"), timeout=TIMEOUT_MS)
        expect(self.info(kind)).to_contain_text("Time taken", timeout=TIMEOUT_MS)
        expect(self.gallery_images(kind).first).to_be_visible(timeout=TIMEOUT_MS)
        return infotext.inner_text()
