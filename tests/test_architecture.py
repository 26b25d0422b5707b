"""The layering rules as tests (the scanner: tests/import_scan.py).

- ``pipelines`` never imports gradio, fastapi (or starlette) or ``webui``;
- ``webui`` never imports torch, diffusers, cv2 or onnxruntime: device and memory facts come
  through ``pipelines`` (e.g. ``pipelines.device.memory_report``);
- extensions, the built-in ones included, import nothing of Atelier but ``webui.extensions``
  and reach no private attribute (``ext._ctx``);
- no import cycles among project modules. Imports inside functions count like module-level
  ones; only imports under ``if TYPE_CHECKING:`` are exempt, because they never run;
- the application context wires its objects through their constructors: its ``__init__``
  never sets an attribute of an object it built (``self.engine.previewer = ...``);
- a test that starts a real server process or encodes a video is marked ``e2e`` (the fast
  tier, ``--fast``, leaves those out).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.import_scan import (
    describe_cycle,
    extension_violations,
    import_cycles,
    layer_violations,
    scan,
    unmarked_e2e_tests,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project():
    return scan(ROOT)


def test_the_scan_sees_the_whole_tree(project) -> None:
    names = set(project.modules)
    assert {"pipelines.context", "webui.server", "webui.extensions", "extensions.builtin.face-swap.main",
            "extensions.builtin.scripts.controls", "tests.extension_example.hello.main"} <= names
    assert not any(name.startswith(("tests.test_", "bench.")) for name in names)


def test_layers_import_only_what_they_may(project) -> None:
    assert layer_violations(project) == []


def test_extensions_use_only_the_public_api(project) -> None:
    assert extension_violations(project) == []


def test_no_import_cycles(project) -> None:
    assert [describe_cycle(project, cycle) for cycle in import_cycles(project)] == []


def test_tests_that_start_servers_or_encode_video_are_e2e() -> None:
    modules = sorted(p for p in (ROOT / "tests").rglob("test_*.py") if "browser" not in p.parts)
    assert [name for path in modules for name in unmarked_e2e_tests(path)] == []


def test_the_e2e_rule_follows_helpers_and_fixtures(tmp_path: Path) -> None:
    path = tmp_path / "test_fixture_tree.py"
    path.write_text(
        "import pytest\n"
        "def _clip(tmp_path):\n    return write_video(tmp_path / 'a.mp4')\n"
        "@pytest.fixture\ndef clip(tmp_path):\n    return _clip(tmp_path)\n"
        "def test_uses_the_fixture(clip): ...\n"
        "def test_calls_the_server(tmp_path):\n    with running_server(tmp_path, tmp_path): ...\n"
        "@pytest.mark.e2e\ndef test_marked(clip): ...\n"
        "def test_plain(tmp_path): ...\n", encoding="utf-8")
    assert unmarked_e2e_tests(path) == ["test_fixture_tree.py::test_uses_the_fixture",
                                        "test_fixture_tree.py::test_calls_the_server"]
    path.write_text("import pytest\npytestmark = pytest.mark.e2e\n" + path.read_text(), encoding="utf-8")
    assert unmarked_e2e_tests(path) == []


def _patched_after_construction(source: str, class_name: str) -> list[str]:
    """``self.a.b = ...`` (or ``+=``) statements in ``class_name.__init__``."""
    found = []
    for cls in ast.walk(ast.parse(source)):
        if not (isinstance(cls, ast.ClassDef) and cls.name == class_name):
            continue
        init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
        for node in ast.walk(init):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                for part in ast.walk(target):
                    if (isinstance(part, ast.Attribute) and isinstance(part.value, ast.Attribute)
                            and isinstance(part.value.value, ast.Name) and part.value.value.id == "self"):
                        found.append(f"line {node.lineno}: {ast.unparse(target)} = ...")
    return found


def test_the_context_wires_objects_by_their_constructors() -> None:
    source = (ROOT / "pipelines" / "context.py").read_text(encoding="utf-8")
    assert _patched_after_construction(source, "AtelierContext") == []
    patched = "class AtelierContext:\n    def __init__(self):\n        self.engine = 1\n        self.engine.previewer = 2\n"
    assert _patched_after_construction(patched, "AtelierContext") == ["line 4: self.engine.previewer = ..."]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_scanner_reports_forbidden_imports_private_access_and_cycles(tmp_path: Path) -> None:
    """A small tree with one of each mistake: the scanner names every one, with its place."""
    _write(tmp_path, {
        "pipelines/__init__.py": "",
        "pipelines/engine.py": "import gradio as gr\n",
        "pipelines/lazy.py": "def f():\n    from webui.server import app\n",
        "pipelines/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipelines.hint\n",
        "pipelines/hint.py": "import pipelines.typed\n",  # a TYPE_CHECKING-only cycle: not reported
        "webui/__init__.py": "",
        "webui/server.py": "import importlib\ndef load():\n    return importlib.import_module('torch.cuda')\n",
        "webui/a.py": "from webui import b\n",
        "webui/b.py": "def later():\n    from webui.a import thing\n",  # a cycle through a lazy import
        "webui/extensions/__init__.py": "X = 1\n",
        "webui/extensions/host.py": "",
        "extensions/README.md": "not code\n",
        "extensions/good/extension.toml": "[extension]\n",
        "extensions/good/main.py": "import gradio\nfrom webui.extensions import X\nfrom .util import y\n",
        "extensions/good/util.py": "y = 1\ndef f(self):\n    return self._own\n",
        "extensions/bad/extension.toml": "[extension]\n",
        "extensions/bad/main.py": ("from pipelines.engine import gr\nfrom webui.extensions import host\n"
                                   "def setup(ext):\n    return ext._ctx\n"),
    })
    project = scan(tmp_path)

    assert layer_violations(project) == [
        "pipelines.engine imports gradio at pipelines/engine.py:1",
        "pipelines.lazy imports webui.server.app at pipelines/lazy.py:2, inside a function",
        "webui.server imports torch.cuda at webui/server.py:3, inside a function",
    ]
    assert extension_violations(project) == [
        "extensions.bad.main imports pipelines.engine.gr (only webui.extensions is public) at extensions/bad/main.py:1",
        "extensions.bad.main imports webui.extensions.host (only webui.extensions is public) at extensions/bad/main.py:2",
        "extensions.bad.main reaches the private attribute ._ctx at extensions/bad/main.py:4",
    ]
    cycles = import_cycles(project)
    assert cycles == [["webui.a", "webui.b", "webui.a"]]
    assert describe_cycle(project, cycles[0]) == (
        "webui.a -> webui.b (webui/a.py:1) -> webui.a (webui/b.py:2, inside a function)")
