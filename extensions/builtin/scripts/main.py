"""Atelier's built-in selectable scripts, registered through the public extension API.

The scripts themselves live in ``pipelines.scripts`` (they chain ordinary engine requests);
this extension only describes their positional arguments (A1111's ``script_args`` order, so
API clients and the UI call the same ``run``) and builds their controls.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from webui.extensions import Extension, ScriptArg, ScriptCall, SelectableScript, run_builtin_script

from .controls import matrix_controls, prompts_file_controls, sd_upscale_controls, xyz_controls


class _BuiltinScript(SelectableScript):
    def run(self, call: ScriptCall) -> Any:
        return run_builtin_script(call, self.title)


def _axis_args(axis: str) -> tuple[ScriptArg, ...]:
    return (ScriptArg(f"{axis} type", "Nothing"), ScriptArg(f"{axis} values", ""), ScriptArg(f"{axis} values (choices)", []))


class XyzPlot(_BuiltinScript):
    title = "X/Y/Z plot"
    args = (*_axis_args("X"), *_axis_args("Y"), *_axis_args("Z"),
            ScriptArg("Draw legend", True), ScriptArg("Include Sub Images", False),
            ScriptArg("Include Sub Grids", False), ScriptArg("Keep -1 for seeds", False),
            ScriptArg("Vary seeds for X", False), ScriptArg("Vary seeds for Y", False),
            ScriptArg("Vary seeds for Z", False), ScriptArg("Grid margins (px)", 0, 0, 500, 2),
            ScriptArg("Use text inputs instead of dropdowns", False))


class PromptMatrix(_BuiltinScript):
    title = "Prompt matrix"
    args = (ScriptArg("Put variable parts at start of prompt", False),
            ScriptArg("Use different seed for each picture", False),
            ScriptArg("Select prompt", "positive", choices=("positive", "negative")),
            ScriptArg("Select joining char", "comma", choices=("comma", "space")),
            ScriptArg("Grid margins (px)", 0, 0, 500, 2))


class PromptsFromFile(_BuiltinScript):
    title = "Prompts from file or textbox"
    args = (ScriptArg("Iterate seed every line", False), ScriptArg("Use same random seed for all lines", False),
            ScriptArg("Insert prompts at the", "start", choices=("start", "end")),
            ScriptArg("List of prompt inputs", ""))


class SdUpscale(_BuiltinScript):
    title = "SD upscale"
    txt2img = False
    args = (ScriptArg("Info", ""), ScriptArg("Tile overlap", 64, 0, 256, 16),
            ScriptArg("Upscaler (index or name)", 0), ScriptArg("Scale Factor", 2.0, 1.0, 4.0, 0.05))


def setup(ext: Extension) -> None:
    # The controls ask ext for dynamic choices (X/Y/Z value hints, upscaler names; API 2).
    for script, controls in ((PromptMatrix(), matrix_controls), (PromptsFromFile(), prompts_file_controls),
                             (XyzPlot(), xyz_controls), (SdUpscale(), sd_upscale_controls)):
        script.ui = partial(controls, ext=ext)
        ext.add_script(script)
