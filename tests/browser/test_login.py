"""Logging in through the login page of a server with users (issue #12 item 2): the page opens
on the login form, a wrong password is named, the right one opens the UI, whose own calls
(Gradio's queue, same-origin) then work with the session cookie alone; Log out ends it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, VIEWPORT
from tests.browser.conftest import ARTIFACTS
from tests.test_server import Server, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

USER, PASSWORD = "painter", "s3cret: with spaces"


@pytest.fixture(scope="module")
def auth_server(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("login-server")
    users = root / "users.txt"
    users.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    header = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    with running_server(root, tiny_models_dir, "--gradio-auth-path", str(users), headers=header) as running:
        yield running


def test_login_page_opens_the_ui(browser: "Browser", auth_server: Server) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(auth_server.base_url + "/?__theme=light")
        expect(page).to_have_url(auth_server.base_url + "/login?next=/%3F__theme%3Dlight")
        page.fill("#username", USER)
        page.fill("#password", "not it")
        page.click("#login")
        expect(page.locator(".error")).to_have_text("Wrong user name or password.")
        folder = ARTIFACTS / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "login.png"))
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.locator("#txt2img_generate").wait_for(state="visible")
        assert page.url == auth_server.base_url + "/?__theme=light"
        page.locator("#txt2img_prompt textarea").fill("a lighthouse at dusk")
        expect(page.locator("#txt2img_token_counter")).to_contain_text("Prompt tokens: 4/75")
        page.screenshot(path=str(folder / "after-login.png"))
        page.click("#logout_link")
        page.locator("#password").wait_for(state="visible")
        assert page.url.startswith(auth_server.base_url + "/login")
    finally:
        context.close()
