"""Atelier's extension API — the only public module for extensions.

An extension is a folder under ``extensions/`` (or ``--extensions-dir``) with an
``extension.toml`` and an entry file defining ``setup(ext)``; see docs/extensions.md.
Everything an extension may use is importable from here; anything else in Atelier is internal
and may change without notice. The API is versioned by :data:`API_VERSION`.
"""

from pipelines.diffusion.alwayson import AlwaysOnScript, ImageInfo
from pipelines.events import AppStarted, ImageSaved, ModelLoaded
from pipelines.registry import ScriptArg
from pipelines.scripts.registry import ScriptCall, SelectableScript
from pipelines.outputs import PostprocessInfo
from webui.extensions.api import API_VERSION, Extension

__all__ = [
    "API_VERSION", "AlwaysOnScript", "AppStarted", "Extension", "ImageInfo", "ImageSaved", "ModelLoaded",
    "PostprocessInfo", "ScriptArg", "ScriptCall", "SelectableScript",
]
