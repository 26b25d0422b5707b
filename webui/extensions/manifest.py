"""``extension.toml``: what an extension says about itself, validated before any of its code runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST = "extension.toml"
EXTENSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""An extension's name, which is also what its folder may be called."""


class ManifestError(ValueError):
    """extension.toml is missing or invalid; the message says what to fix."""


class Manifest(BaseModel):
    """The ``[extension]`` table of extension.toml."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    version: str
    api: int = Field(ge=1, description="extension API version the extension was written for")
    description: str = ""
    entry: str = "main.py"
    requirements: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not EXTENSION_NAME.match(value):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("entry")
    @classmethod
    def _inside(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts or path.suffix != ".py":
            raise ValueError("must be a .py file inside the extension folder")
        return value


def read_manifest(folder: Path) -> Manifest:
    """Parse ``folder/extension.toml``; ManifestError with the reason when it cannot be used."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST} in {folder}")
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("extension")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(table, dict):
        raise ManifestError(f"{MANIFEST} has no [extension] table")
    try:
        return Manifest(**table)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ManifestError(f"{MANIFEST}: {reasons}") from exc
