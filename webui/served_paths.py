"""The server folders the UI may read, write and serve by path, and Gradio confined to them.

Gradio 6.31 copies any server file a request names (a ``gradio.FileData`` ``path``) into its
cache and then serves it, unless its allowed-path check runs; that check returns early while
``blocks.has_launched`` is false, which only ``Blocks.launch()`` sets, never
``mount_gradio_app``. :func:`confine_gradio_files` sets it, so a request's files must come from
Gradio's upload folder, and makes Gradio's ``allowed_paths`` follow the output folders the
settings name now. Folder fields (img2img batch, detector training) go through
:func:`server_folder`, which refuses a folder outside :func:`served_folders`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from pipelines.context import AtelierContext


class OutsideServedFoldersError(ValueError):
    """A folder field names a place this server does not serve; the message says how to allow it."""


def served_folders(ctx: AtelierContext) -> list[Path]:
    """Where the UI may read and write by path: the outputs folder, every output folder the
    settings moved, and the ``--gradio-allowed-path`` folders (resolved, without duplicates)."""
    folders = [ctx.config.data_dir / "outputs", ctx.outputs_dir, *ctx.settings.output_folders().values(),
               *ctx.config.allowed_paths]
    unique: dict[str, Path] = {}
    for folder in folders:
        resolved = Path(folder).expanduser().resolve()
        unique.setdefault(str(resolved), resolved)
    return list(unique.values())


def is_inside(path: Path, folders: Iterable[Path]) -> bool:
    """True when ``path`` (symlinks resolved) is one of ``folders`` or lies below one."""
    resolved = path.resolve()
    return any(resolved == folder or folder in resolved.parents for folder in folders)


def server_folder(ctx: AtelierContext, text: Optional[str], label: str) -> Optional[Path]:
    """The folder a UI field names (None when empty), refused unless it is inside a served folder."""
    text = (text or "").strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise OutsideServedFoldersError(f"{label} must be an absolute path, got {text!r}")
    folders = served_folders(ctx)
    if not is_inside(path, folders):
        raise OutsideServedFoldersError(
            f"{label} {path} is outside the folders this server may use ({', '.join(map(str, folders))}); "
            "move the files there, or start Atelier with --gradio-allowed-path FOLDER to allow it.")
    return path.resolve()


class LiveFolders(list):
    """A list that Gradio reads as ``allowed_paths`` and that answers :func:`served_folders` at
    every read, so an output folder changed in Settings is served at once, and nothing else.

    Gradio only iterates it, concatenates it (``allowed_paths + [...]``) and checks its type.
    """

    def __init__(self, folders: Callable[[], Sequence[Path]]) -> None:
        super().__init__()
        self._folders = folders

    def _now(self) -> list[str]:
        return [str(folder) for folder in self._folders()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())

    def __getitem__(self, index: Any) -> Any:
        return self._now()[index]

    def __contains__(self, item: object) -> bool:
        return item in self._now()

    def __add__(self, other: list) -> list:  # type: ignore[override]
        return self._now() + list(other)

    def __radd__(self, other: list) -> list:
        return list(other) + self._now()

    def __repr__(self) -> str:
        return f"LiveFolders({self._now()!r})"


def private_files(ctx: AtelierContext, extra: Sequence[Path] = ()) -> list[str]:
    """Files and folders Gradio must never copy or serve even inside its default places (the
    working directory, the system temp folder): settings, state, caches, API uploads. (Model
    files are not served either: the models folder is no served folder; the detectors'
    evaluation figures beside them are shown by the UI.)"""
    data = ctx.config.data_dir.resolve()
    paths = [data / "config.json", data / "extensions.json", data / "cache", data / "uploads", *extra]
    return [str(p) for p in paths]


def confine_gradio_files(blocks: Any, ctx: AtelierContext, private: Sequence[Path] = ()) -> None:
    """Turn on the allowed-path check of a mounted Gradio app (see the module docstring), serve
    only :func:`served_folders` (plus Gradio's own upload and cache folders) and block
    :func:`private_files` and ``private`` (e.g. a credentials file)."""
    blocks.has_launched = True
    blocks.allowed_paths = LiveFolders(lambda: served_folders(ctx))
    blocks.blocked_paths = private_files(ctx, private)


def gradio_temp_dir(data_dir: Path) -> Path:
    """Atelier's own Gradio upload and cache folder (``GRADIO_TEMP_DIR`` unless set), in the data
    dir rather than a temp folder that other programs and users share."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or data_dir / "tmp" / "gradio")
