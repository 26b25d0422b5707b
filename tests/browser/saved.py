"""What the server under test wrote to ``<data-dir>/outputs`` (tests check the disk, not only the page)."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from tests.test_server import Server


def saved_images(server: Server, kind: str = "txt2img", suffix: str = "png") -> list[Path]:
    return sorted((server.data_dir / "outputs" / f"{kind}-images").glob(f"*/*.{suffix}"))


def saved_for_prompt(server: Server, prompt: str, kind: str = "txt2img") -> list[Path]:
    """The saved PNGs of ``kind`` whose infotext starts with ``prompt``, oldest first."""
    return [p for p in saved_images(server, kind) if _parameters(p).startswith(prompt + "\n")]


def saved_with_prompt(server: Server, prompt: str, kind: str = "txt2img") -> Path:
    """The one saved PNG of ``kind`` whose infotext starts with ``prompt``."""
    found = saved_for_prompt(server, prompt, kind)
    assert len(found) == 1, [p.name for p in saved_images(server, kind)]
    return found[0]


def seed_of(path: Path) -> int:
    match = re.search(r"\bSeed: (\d+),", _parameters(path))
    assert match, f"no seed in the infotext of {path.name}"
    return int(match.group(1))


def _parameters(path: Path) -> str:
    with Image.open(path) as image:
        return image.info.get("parameters", "")
