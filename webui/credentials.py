"""Where the user names and passwords come from: one set for the whole app.

``--api-auth`` and ``--gradio-auth`` (A1111's flags, on the command line), ``--gradio-auth-path
FILE`` and the ``ATELIER_AUTH`` environment variable all add to the same set. A password on the
command line can be read by every user of the machine (``/proc/<pid>/cmdline``, ``ps``), so
those two flags are accepted with a warning; the file and the variable are the safe ways.
Standard library only (``launch.py --help`` runs before anything is installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping, Sequence

Credentials = Sequence[tuple[str, str]]
ENV_VAR = "ATELIER_AUTH"


class CredentialsError(ValueError):
    """A credentials source is unreadable or malformed; the message names it (never a password)."""


def parse_pairs(text: str, source: str = "credentials", blanks: bool = False) -> tuple[tuple[str, str], ...]:
    """``user:pass[,user2:pass2]`` (commas or new lines between pairs; a password may hold ':');
    empty entries only where ``blanks`` (a file's empty lines)."""
    pairs = []
    for item in text.strip().replace("\n", ",").split(","):
        item = item.strip()
        if not item and blanks:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise CredentialsError(f"{source}: expected user:password[,user2:password2], "
                                   f"got an entry for {user or '(no user)'!r} without both parts")
        pairs.append((user, password))
    return tuple(pairs)


def cli_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """argparse ``type=`` for the command-line flags (an error is a usage error)."""
    try:
        pairs = parse_pairs(text, "the flag")
    except CredentialsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not pairs:
        raise argparse.ArgumentTypeError("expected user:password[,user2:password2]")
    return pairs


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """(every user/password pair from all sources, warnings to log). CredentialsError when the
    file cannot be read or a source is malformed."""
    pairs: list[tuple[str, str]] = []
    warnings = []
    for flag, value in (("--api-auth", args.api_auth), ("--gradio-auth", args.gradio_auth)):
        if value:
            pairs += value
            warnings.append(f"{flag} puts a password on the command line, where every user of this machine can "
                            f"read it (/proc/<pid>/cmdline, ps); use --gradio-auth-path FILE or {ENV_VAR} instead")
    if args.gradio_auth_path is not None:
        path = Path(args.gradio_auth_path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"--gradio-auth-path {path}: cannot read it ({type(exc).__name__})") from None
        found = parse_pairs(text, f"--gradio-auth-path {path}", blanks=True)
        if not found:
            raise CredentialsError(f"--gradio-auth-path {path}: the file holds no user:password entry")
        pairs += found
    if environ.get(ENV_VAR, "").strip():
        pairs += parse_pairs(environ[ENV_VAR], ENV_VAR)
    return tuple(dict.fromkeys(pairs)), warnings
