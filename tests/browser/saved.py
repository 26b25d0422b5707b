"""What the server under test wrote to ``<data-dir>/outputs`` (tests check the disk, not only the page)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.test_server import Server


def saved_images(server: Server, kind: str = "txt2img", suffix: str = "png") -> list[Path]:
    return sorted((server.data_dir / "outputs" / f"{kind}-images").glob(f"*/*.{suffix}"))


def saved_with_prompt(server: Server, prompt: str, kind: str = "txt2img") -> Path:
    """The one saved PNG of ``kind`` whose infotext starts with ``prompt``."""
    found = [p for p in saved_images(server, kind) if Image.open(p).info.get("parameters", "").startswith(prompt + "\n")]
    assert len(found) == 1, [p.name for p in saved_images(server, kind)]
    return found[0]
