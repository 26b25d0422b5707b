"""The docs name only files that exist: every repository path in backticks in README.md,
CONTRIBUTING.md and docs/*.md, and every relative Markdown link there (with its ``#anchor``,
which must be a heading of the target).

A path is a backticked word starting with one of the repository's top folders. Words with a
placeholder (``<name>``, ``*``, ``{id}``) or a space are patterns, not paths, and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
TOP_FOLDERS = ("webui/", "pipelines/", "tests/", "bench/", "docs/", "extensions/", "models/")
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATTERN = re.compile(r"[<>*{}\s…|]")
_HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def named_paths(text: str) -> list[str]:
    """The repository paths a Markdown text names in backticks (patterns left out)."""
    found = []
    for word in _BACKTICKED.findall(text):
        word = word.rstrip(".,;:")
        if word.startswith(TOP_FOLDERS) and not _PATTERN.search(word):
            found.append(word)
    return found


def relative_links(text: str) -> list[tuple[str, str]]:
    """(file, anchor) of every relative link; file "" for an anchor in the same text."""
    links = []
    for target in _LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        links.append((path, anchor))
    return links


def linked_paths(text: str) -> list[str]:
    """Relative link targets (no URL scheme, no bare anchor), without their ``#anchor``."""
    return [path for path, _ in relative_links(text) if path]


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text (lower case, punctuation dropped,
    spaces to hyphens)."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in _HEADING.findall(text)}


def missing(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    gone = [f"`{p}`" for p in named_paths(text) if not (ROOT / p).exists()]
    for path, anchor in relative_links(text):
        target = doc.parent / path if path else doc
        if not target.exists():
            gone.append(f"({path})")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text(encoding="utf-8")):
            gone.append(f"({path}#{anchor})")
    return gone


def test_the_docs_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    assert {"README.md", "CONTRIBUTING.md", "docs/architecture.md", "docs/features.md", "docs/api.md",
            "docs/extensions.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_named_path_exists(doc: Path) -> None:
    assert missing(doc) == []


def test_the_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {"CONTRIBUTING.md", "docs/architecture.md", "docs/features.md", "docs/api.md",
            "docs/extensions.md"} <= set(linked_paths(readme))


def test_the_checker_finds_paths_and_skips_patterns(tmp_path: Path) -> None:
    text = ("Run `tests/test_docs.py`, see `pipelines/context.py`. Skip `models/<name>/`, "
            "`models/x/*.onnx`, `python launch.py`, `webui/a b`; [a](docs/api.md#x) [b](https://x.y) [c](#top)")
    assert named_paths(text) == ["tests/test_docs.py", "pipelines/context.py"]
    assert linked_paths(text) == ["docs/api.md"]
    doc = tmp_path / "doc.md"
    doc.write_text("# A title\n## Device and memory policy (now)\n`webui/no_such_file.py` and [gone](nowhere.md), "
                   "[here](#a-title) [there](#device-and-memory-policy-now) [lost](#no-such-heading)",
                   encoding="utf-8")
    assert missing(doc) == ["`webui/no_such_file.py`", "(nowhere.md)", "(#no-such-heading)"]
