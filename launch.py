#!/usr/bin/env python3
"""Start Atelier: ``python launch.py [flags]``; run the tests: ``python launch.py test``; train a
deepfake detector: ``python launch.py train-detector --real DIR``, evaluate one:
``python launch.py eval-detector --real DIR --fake DIR``; DeepFaceLab's workflow:
``python launch.py faceset|train-face|merge WORKSPACE ...``.

On first use this creates ``.venv/`` beside this file and installs the project into it
(torch pinned to 2.13.0, which is the CPU wheel on a machine without CUDA). Later runs find
the install stamp unchanged and start at once. Standard library only until the re-exec.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".atelier-install"
CHROMIUM = Path("/usr/bin/chromium")


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _pyproject_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]


def _read_stamp() -> tuple[str, set[str]]:
    """(pyproject digest, extras) of the last successful install, or ("", set())."""
    if not STAMP.exists():
        return "", set()
    digest, _, extras = STAMP.read_text().strip().partition(":")
    return digest, {e for e in extras.split(",") if e}


def _install(extras: set[str]) -> None:
    """Create the venv if missing; (re)install when pyproject.toml changed or extras are new."""
    if not VENV_PYTHON.exists():
        print(f"[atelier] creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest, installed = _read_stamp()
    if digest == _pyproject_digest() and extras <= installed:
        return
    extras = extras | installed
    target = f".[{','.join(sorted(extras))}]" if extras else "."
    print(f"[atelier] installing {target} into {VENV} (first run takes a few minutes)", flush=True)
    subprocess.check_call([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"], cwd=ROOT)
    subprocess.check_call([str(VENV_PYTHON), "-m", "pip", "install", "-q", "-e", target], cwd=ROOT)
    no_deps = _no_deps_requirements()
    if no_deps:
        subprocess.check_call([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--no-deps", *no_deps], cwd=ROOT)
    STAMP.write_text(f"{_pyproject_digest()}:{','.join(sorted(extras))}")


def _atelier_list(key: str) -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f).get("tool", {}).get("atelier", {}).get(key, []))


def _no_deps_requirements() -> list[str]:
    """`[tool.atelier] no-deps` of pyproject.toml: packages whose declared dependencies are wrong here."""
    return _atelier_list("no-deps")


def _fetch_test_data() -> None:
    """`[tool.atelier] test-data`: source archives holding test photos, downloaded once into
    ``.venv/test-data`` (the registry's sdist, not installed). A failure only makes the tests
    that need them skip, with the reason."""
    folder = VENV / "test-data"
    for requirement in _atelier_list("test-data"):
        name, _, version = requirement.partition("==")
        if list(folder.glob(f"{name}-{version}.tar.gz")):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        print(f"[atelier] fetching the {requirement} sdist (test photos) into {folder}", flush=True)
        subprocess.call([str(VENV_PYTHON), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                         requirement, "-d", str(folder)], cwd=ROOT)


def _ensure_browser() -> None:
    """Install Debian's chromium for the browser tests when missing (never a downloaded browser).

    Skipped when ATELIER_NO_BROWSER is set or apt-get is unusable; the browser tests then skip
    with a message saying so.
    """
    if CHROMIUM.exists() or os.environ.get("ATELIER_NO_BROWSER") or not shutil.which("apt-get"):
        return
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        print("[atelier] /usr/bin/chromium missing and not root: browser tests will be skipped", flush=True)
        return
    print("[atelier] installing Debian chromium for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.call(apt, env=env) != 0:
        subprocess.call(["apt-get", "update", "-q"], env=env)
        subprocess.call(apt, env=env)


def _reexec(argv: list[str]) -> None:
    if os.name == "nt":
        raise SystemExit(subprocess.call([str(VENV_PYTHON), str(ROOT / "launch.py"), *argv]))
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "launch.py"), *argv])


def lint() -> int:
    """``ruff check`` over the tree with pyproject's rules (0 when clean)."""
    print("[atelier] ruff check", flush=True)
    return subprocess.call([sys.executable, "-m", "ruff", "check", str(ROOT)], cwd=ROOT)


def run_tests(pytest_args: list[str]) -> int:
    """The test command: install the test extras, lint, then run the suite (pytest's own
    arguments pass through, e.g. ``-m "not e2e and not slow"`` for the fast tier). A lint
    failure fails the command, after pytest has still run."""
    if not _in_venv():
        _install({"test"})
        _fetch_test_data()
        _ensure_browser()
        _reexec(["test", *pytest_args])
    import pytest

    lint_status = lint()
    status = pytest.main(["-q", *pytest_args])
    return status or lint_status


def main(argv: list[str]) -> int:
    if argv[:1] == ["test"]:
        return run_tests(argv[1:])
    sys.path.insert(0, str(ROOT))
    from pipelines.dfl.cli import COMMANDS as FACE_COMMANDS
    from webui.cli import build_eval_detector_parser, build_train_detector_parser, parse_args

    train, evaluate = argv[:1] == ["train-detector"], argv[:1] == ["eval-detector"]
    face_command = argv[0] if argv[:1] and argv[0] in FACE_COMMANDS else None
    # --help exits here, before any install
    if face_command:
        args = FACE_COMMANDS[face_command][0]().parse_args(argv[1:])
    elif train or evaluate:
        args = (build_train_detector_parser() if train else build_eval_detector_parser()).parse_args(argv[1:])
    else:
        args = parse_args(argv)
    if not _in_venv():
        if not args.skip_install:
            _install(set())
        if VENV_PYTHON.exists():
            _reexec(argv)
    if train:
        from pipelines.detect.train import run_cli

        return run_cli(args)
    if evaluate:
        from pipelines.detect.evaluate import run_cli as run_evaluation

        return run_evaluation(args)
    if face_command:
        from pipelines.dfl.cli import run

        return run(face_command, args)
    from webui.server import serve

    return serve(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
