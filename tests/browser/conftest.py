"""Real-browser fixtures: Debian's chromium driven by Playwright against a ``launch.py`` server.

The suite skips (with the reason) when /usr/bin/chromium or the ``playwright`` package is
missing; ``python launch.py test`` installs both. No browser is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.browser.atelier_page import AtelierPage

from tests.step_gate import EXTENSIONS_DIR, RemoteGate
from tests.test_server import Server, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-quic", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def missing_browser_parts() -> list[str]:
    """What the browser tests need and this machine lacks (empty when they can run)."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package 'chromium'; `python launch.py test` installs it as root)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the 'playwright' Python package (test extra: pip install -e '.[test]')")
    return missing


class _BrowserUnavailable(pytest.File):
    """Stands in for a test module when the browser is missing: reported as skipped, with why."""

    def collect(self) -> list:
        pytest.skip("browser tests need " + " and ".join(missing_browser_parts()))


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Optional[pytest.File]:
    # never import the modules (they import playwright) and never pass vacuously
    if missing_browser_parts():
        return _BrowserUnavailable.from_parent(parent, path=module_path)
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator["Browser"]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def server(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One UI + API server for the browser tests (each test uses its own prompts and seeds),
    with the step_gate test extension (tests/step_gate.py) to hold a job at a chosen step."""
    root = tmp_path_factory.mktemp("browser-server")
    write_settings(root / "data", sd_model_checkpoint="tiny-sd1")
    with running_server(root, tiny_models_dir, "--extensions-dir", str(EXTENSIONS_DIR)) as running:
        yield running


@pytest.fixture
def gate(server: Server) -> Iterator[RemoteGate]:
    """The server's step gate; whatever a test left held is released at its end."""
    remote = RemoteGate(server.json)
    yield remote
    remote.release()


def write_settings(data_dir: Path, **settings: object) -> None:
    """``<data-dir>/config.json`` as a returning user has it; the server reads it at start
    (the catalog default could be any of the tiny checkpoints)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.json").write_text(json.dumps(settings), encoding="utf-8")


@pytest.fixture
def atelier(browser: "Browser", server: Server) -> Iterator["AtelierPage"]:
    """A fresh browser context (its own Gradio session) on the package's server."""
    from tests.browser.atelier_page import AtelierPage

    with AtelierPage.open(browser, server.base_url) as page:
        yield page
