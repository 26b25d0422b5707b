"""Install, update and uninstall extensions with git, confined to one extensions folder.

Changes take effect on the next start (tabs and routes are built once). Every path is checked
to stay inside the folder, so a crafted name or URL can never write or delete elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from webui.extensions.manifest import EXTENSION_NAME, ManifestError, read_manifest

GIT_TIMEOUT_S = 300
_SCHEMES = {"https", "http", "ssh", "git", "file"}
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:[\w./~-]+$")  # git@host:owner/repo.git


class ExtensionInstallError(ValueError):
    """The install / update / uninstall was refused or failed; the message says why."""


def _git(*args: str, cwd: Optional[Path] = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise ExtensionInstallError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise ExtensionInstallError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise ExtensionInstallError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


# git may never read a repository on this machine unless the insecure flag allows it (also
# when a remote redirects or a later pull is asked to)
_NO_LOCAL = ("-c", "protocol.file.allow=never")


def _check_url(url: str, allow_local: bool) -> str:
    url = url.strip()
    if not url:
        raise ExtensionInstallError("enter the git URL of the extension")
    if url.startswith("-"):
        raise ExtensionInstallError(f"not a git URL: {url!r}")
    scheme = urlparse(url).scheme
    if scheme == "file" and not allow_local:
        raise ExtensionInstallError("installing from a folder on this machine (file://) needs "
                                    "--enable-insecure-extension-access")
    if _SCP_LIKE.match(url) or scheme in _SCHEMES:
        return url
    raise ExtensionInstallError(f"not a git URL: {url!r} (use https://…, ssh://… or git@host:path)")


def folder_name(url: str, name: Optional[str] = None) -> str:
    """The folder an install goes to: ``name`` if given, else the repository's name from the URL."""
    candidate = (name or "").strip() or url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    candidate = candidate.removesuffix(".git")
    if not EXTENSION_NAME.match(candidate):
        raise ExtensionInstallError(f"{candidate!r} is not a valid extension folder name "
                                    "(letters, digits, '.', '_' or '-'; no path separators)")
    return candidate


def _inside(root: Path, name: str) -> Path:
    root = root.resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise ExtensionInstallError(f"{name!r} would leave the extensions folder {root}")
    return target


def install(root: Path, url: str, name: Optional[str] = None, allow_local: bool = False) -> Path:
    """``git clone`` ``url`` into ``root/<name>``; the clone must carry a valid extension.toml.
    ``file://`` sources only with ``allow_local`` (``--enable-insecure-extension-access``)."""
    url = _check_url(url, allow_local)
    target = _inside(root, folder_name(url, name))
    if target.exists():
        raise ExtensionInstallError(f"{target.name!r} is already installed; update or uninstall it first")
    root.mkdir(parents=True, exist_ok=True)
    _git(*(() if allow_local else _NO_LOCAL), "clone", "--depth", "1", "--", url, str(target))
    try:
        read_manifest(target)
    except ManifestError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ExtensionInstallError(f"not an Atelier extension: {exc}") from exc
    return target


def update(root: Path, name: str, allow_local: bool = False) -> str:
    """``git pull --ff-only`` in an installed extension; returns git's summary line (a remote on
    this machine only with ``allow_local``)."""
    target = _inside(root, name)
    if not (target / ".git").exists():
        raise ExtensionInstallError(f"{name!r} was not installed with git; update it by hand")
    out = _git(*(() if allow_local else _NO_LOCAL), "pull", "--ff-only", cwd=target).strip().splitlines()
    return out[-1] if out else "updated"


def uninstall(root: Path, name: str) -> None:
    """Delete ``root/<name>`` (only a direct child folder of ``root``, never a symlink's target)."""
    if not EXTENSION_NAME.match(name):
        raise ExtensionInstallError(f"{name!r} is not an extension folder name")
    link = Path(root) / name
    if link.is_symlink():
        link.unlink()
        return
    target = _inside(root, name)
    if not target.is_dir():
        raise ExtensionInstallError(f"no extension folder {name!r} in {root}")
    shutil.rmtree(target)
