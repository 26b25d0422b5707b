"""Atelier's extension API — the only public module for extensions.

An extension is a folder under ``extensions/`` (or ``--extensions-dir``) with an
``extension.toml`` and an entry file defining ``setup(ext)``; see docs/extensions.md.
Everything an extension may use is importable from here; anything else in Atelier is internal
and may change without notice. The API is versioned by :data:`API_VERSION`.
"""

from pipelines.diffusion.alwayson import AlwaysOnScript, ImageInfo
from pipelines.events import AppStarted, ImageSaved, JobStep, ModelLoaded
from pipelines.faces.swap import METHODS as SWAP_METHODS
from pipelines.faces.swap import PreparedSource, SwapOptions, Targets, parse_targets
from pipelines.outputs import PostprocessInfo
from pipelines.registry import ScriptArg
from pipelines.scripts import list_axis_types
from pipelines.scripts.registry import ScriptCall, SelectableScript
from webui.extensions.api import API_VERSION, Extension, FaceTools, run_builtin_script
from webui.imagecodec import ImageDecodeError, decode_image

__all__ = [
    "API_VERSION", "AlwaysOnScript", "AppStarted", "Extension", "ImageInfo", "ImageSaved", "ModelLoaded",
    "PostprocessInfo", "ScriptArg", "ScriptCall", "SelectableScript",
    # API 2
    "FaceTools", "ImageDecodeError", "JobStep", "PreparedSource", "SWAP_METHODS", "SwapOptions", "Targets", "decode_image",
    "list_axis_types", "parse_targets", "run_builtin_script",
]
