"""Reads every import of a source tree (with ``ast``, nothing is executed) and checks the
layering rules that tests/test_architecture.py enforces.

An import is recorded wherever it is written: at module level, inside a function (a lazy
import still ties the two modules together), and as ``importlib.import_module("literal")`` /
``__import__("literal")``. Imports under ``if TYPE_CHECKING:`` are recorded but marked: they
never run, so the cycle rule skips them (the layer rules do not).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

PROJECT_PACKAGES = ("pipelines", "webui")
EXTENSION_FOLDERS = ("extensions", "tests/extension_example", "tests/gate_extension")
# Top-level names that belong to this project: an extension may import none of them but
# webui.extensions (its own modules it imports relatively).
PROJECT_TOPS = frozenset({"pipelines", "webui", "extensions", "tests", "bench", "launch"})
PUBLIC_EXTENSION_API = "webui.extensions"
FORBIDDEN: dict[str, frozenset[str]] = {
    # the engine knows nothing of the web layer
    "pipelines": frozenset({"gradio", "fastapi", "starlette", "webui"}),
    # the web layer asks pipelines for device / memory facts and runs no model code itself
    "webui": frozenset({"torch", "diffusers", "cv2", "onnxruntime"}),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a dotted module name."""

    source: str  # the importing module
    target: str
    path: Path
    line: int
    in_function: bool = False
    type_checking: bool = False

    def where(self) -> str:
        scope = ", inside a function" if self.in_function else ""
        return f"{self.path}:{self.line}{scope}"


@dataclass(frozen=True)
class PrivateAccess:
    """``obj._name`` on something other than ``self`` / ``cls`` (extensions may not)."""

    source: str
    attribute: str
    path: Path
    line: int


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    extension: Optional[str] = None  # the extension folder it belongs to, if any
    imports: list[Import] = field(default_factory=list)
    private_access: list[PrivateAccess] = field(default_factory=list)


@dataclass
class Project:
    root: Path
    modules: dict[str, Module]

    def resolve(self, name: str) -> str:
        """``name`` itself, or for ``from a.b import c`` written as ``a.b.c``, ``a.b`` when
        ``c`` is a name in ``a.b`` rather than a submodule."""
        if name in self.modules:
            return name
        parent = name.rpartition(".")[0]
        return parent if parent in self.modules else name


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _literal_import(call: ast.Call) -> Optional[str]:
    """The module of ``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: Module) -> None:
        self.module = module
        self.function_depth = 0
        self.type_checking = 0

    def _add(self, target: str, node: ast.AST) -> None:
        self.module.imports.append(Import(self.module.name, target, self.module.path, node.lineno,
                                          self.function_depth > 0, self.type_checking > 0))

    def _package(self) -> str:
        name = self.module.name
        return name if self.module.is_package else name.rpartition(".")[0]

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self._package()
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            prefix = f"{base}.{node.module}" if node.module else base
        else:
            prefix = node.module or ""
        for alias in node.names:
            self._add(prefix if alias.name == "*" else f"{prefix}.{alias.name}", node)

    def visit_Call(self, node: ast.Call) -> None:
        target = _literal_import(node)
        if target is not None:
            self._add(target, node)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        attr = node.attr
        if attr.startswith("_") and not attr.startswith("__") and owner not in ("self", "cls"):
            self.module.private_access.append(PrivateAccess(self.module.name, attr, self.module.path, node.lineno))
        self.generic_visit(node)

    def _in_function(self, node: ast.AST) -> None:
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _in_function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_checking += 1
            for child in node.body:
                self.visit(child)
            self.type_checking -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)


def _python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def _extension_of(path: Path, root: Path, folders: Iterable[str]) -> Optional[str]:
    """The extension folder (one holding extension.toml) ``path`` lives in, if any."""
    for parent in path.parents:
        if parent == root:
            return None
        if (parent / "extension.toml").is_file() and any(parent.is_relative_to(root / f) for f in folders):
            return str(parent.relative_to(root))
    return None


def scan(root: Path, packages: Iterable[str] = PROJECT_PACKAGES,
         extension_folders: Iterable[str] = EXTENSION_FOLDERS) -> Project:
    """Every module of ``packages`` and of the extensions under ``extension_folders``."""
    extension_folders = tuple(extension_folders)
    modules: dict[str, Module] = {}
    sources = [(root / p, False) for p in packages] + [(root / f, True) for f in extension_folders]
    for folder, holds_extensions in sources:
        for path in _python_files(folder) if folder.is_dir() else ():
            extension = _extension_of(path, root, extension_folders) if holds_extensions else None
            if holds_extensions and extension is None:
                continue  # only code inside an extension folder (one with extension.toml)
            name, is_package = module_name(root, path)
            module = Module(name, path.relative_to(root), is_package, extension)
            _Visitor(module).visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            modules[name] = module
    return Project(root, modules)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


def layer_violations(project: Project) -> list[str]:
    """Imports of a package that its layer forbids (``FORBIDDEN``), wherever they are written."""
    found = []
    for module in project.modules.values():
        forbidden = FORBIDDEN.get(module.name.partition(".")[0]) if module.extension is None else None
        for imp in module.imports if forbidden else ():
            if imp.target.partition(".")[0] in forbidden:
                found.append(f"{module.name} imports {imp.target} at {imp.where()}")
    return found


def extension_violations(project: Project) -> list[str]:
    """Extension code that reaches past the public ``webui.extensions`` API: another project
    module, or a private attribute (``ext._ctx``)."""
    found = []
    for module in project.modules.values():
        if module.extension is None:
            continue
        own = module.extension.replace("/", ".")
        for imp in module.imports:
            target = project.resolve(imp.target)
            if target.startswith(own + ".") or target == own:
                continue  # the extension's own modules
            if target.partition(".")[0] in PROJECT_TOPS and target != PUBLIC_EXTENSION_API:
                found.append(f"{module.name} imports {imp.target} (only {PUBLIC_EXTENSION_API} is public) "
                             f"at {imp.where()}")
        for access in module.private_access:
            found.append(f"{module.name} reaches the private attribute .{access.attribute} at "
                         f"{access.path}:{access.line}")
    return found


def import_graph(project: Project) -> dict[str, set[str]]:
    """Module → project modules it imports; module-level and function-level imports count,
    ``if TYPE_CHECKING:`` imports do not (they never run)."""
    graph: dict[str, set[str]] = {name: set() for name in project.modules}
    for module in project.modules.values():
        for imp in module.imports:
            if imp.type_checking:
                continue
            target = project.resolve(imp.target)
            if target in project.modules and target != module.name:
                graph[module.name].add(target)
    return graph


def import_cycles(project: Project) -> list[list[str]]:
    """Each group of modules that import each other (a strongly connected component), as one
    cycle through it: ``[a, b, c, a]``."""
    graph = import_graph(project)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(start: str) -> None:  # Tarjan's algorithm, iterative (deep graphs)
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return [_cycle_through(graph, set(component)) for component in sorted(components)]


def _cycle_through(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest path from the first member back to itself inside ``members`` (breadth first)."""
    start = min(members)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return sorted(members)


def describe_cycle(project: Project, cycle: list[str]) -> str:
    """``a -> b (a.py:3) -> a (b.py:9, inside a function)``."""
    steps = [cycle[0]]
    for source, target in zip(cycle, cycle[1:]):
        imp = next(i for i in project.modules[source].imports
                   if not i.type_checking and project.resolve(i.target) == target)
        steps.append(f"{target} ({imp.where()})")
    return " -> ".join(steps)


# --------------------------------------------------------------------------------------------
# Test tiers
# --------------------------------------------------------------------------------------------

E2E_CALLS = frozenset({"running_server", "write_video", "write_clip", "prepared_workspace"})
"""Helpers that start a real server process or encode a video: a test reaching one is e2e."""


def _is_e2e_mark(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "e2e"


def unmarked_e2e_tests(path: Path) -> list[str]:
    """Tests of the module at ``path`` that reach an :data:`E2E_CALLS` helper (directly, through
    a function or a fixture of the same module) without the ``e2e`` marker."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            if any(_is_e2e_mark(m) for m in marks):
                return []
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def uses(fn: ast.AST) -> set[str]:
        called = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        params = {a.arg for a in fn.args.args} if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else set()
        return called | params  # a parameter names a fixture

    reaching = set(E2E_CALLS)
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            if name not in reaching and uses(fn) & reaching:
                reaching.add(name)
                changed = True
    found = []
    for name, fn in functions.items():
        if name.startswith("test_") and name in reaching and not any(
                _is_e2e_mark(d.func if isinstance(d, ast.Call) else d) for d in fn.decorator_list):
            found.append(f"{path.name}::{name}")
    return found
