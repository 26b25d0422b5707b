"""The Script dropdown and the always-on script accordions of txt2img / img2img.

Built from the context's registries (``ctx.scripts``, ``ctx.alwayson``), so built-in and
extension scripts appear the same way. A script's controls come from its own ``ui(kind)``
builder or, without one, from its ``args``; their values are passed positionally, exactly
like the API's ``script_args`` / ``alwayson_scripts`` args.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.diffusion.engine import GenerationResult
from pipelines.jobs import JobControl
from pipelines.registry import ScriptArg
from pipelines.scripts.runner import job_kind, with_fields

NONE = "None"
SEP = "\x1f"  # joins script title and argument index in the inputs' keys
ALWAYSON = "alwayson"
Runner = Callable[[Any, JobControl], GenerationResult]


def arg_control(arg: ScriptArg) -> Any:
    """A Gradio control for one described argument (when a script brings no UI of its own)."""
    if arg.choices is not None:
        return gr.Dropdown(list(arg.choices), value=arg.value, label=arg.label)
    if isinstance(arg.value, bool):
        return gr.Checkbox(arg.value, label=arg.label)
    if arg.minimum is not None and arg.maximum is not None:
        return gr.Slider(arg.minimum, arg.maximum, value=arg.value, step=arg.step or 1, label=arg.label)
    if isinstance(arg.value, (int, float)):
        return gr.Number(arg.value, label=arg.label)
    return gr.Textbox(value="" if arg.value is None else str(arg.value), label=arg.label)


def _controls(script: Any, kind: str) -> list[Any]:
    builder = getattr(script, "ui", None)
    return list(builder(kind)) if builder else [arg_control(arg) for arg in script.args]


def script_controls(ctx: AtelierContext, kind: str) -> tuple[gr.Dropdown, dict[str, gr.components.Component]]:
    """The Script dropdown, each selectable script's controls (shown when chosen) and an accordion
    per always-on script; the inputs are keyed for :func:`make_runner`."""
    titles = ctx.scripts.titles(kind)
    script = gr.Dropdown([NONE, *titles], value=NONE, label="Script", elem_id=f"{kind}_script")
    inputs: dict[str, gr.components.Component] = {}
    groups = []
    for title in titles:
        with gr.Group(visible=False) as group:
            for index, control in enumerate(_controls(ctx.scripts.find(title), kind)):
                inputs[f"{title}{SEP}{index}"] = control
        groups.append(group)
    script.change(lambda name: [gr.update(visible=name == title) for title in titles], script, groups, queue=False,
                  api_name=f"{kind}_script")
    for always in ctx.alwayson.scripts:
        if not getattr(always, kind, True):
            continue
        with gr.Accordion(always.title, open=False):
            inputs[f"{ALWAYSON}{SEP}{always.title}{SEP}enabled"] = gr.Checkbox(False, label="Enable")
            for index, control in enumerate(_controls(always, kind)):
                inputs[f"{ALWAYSON}{SEP}{always.title}{SEP}{index}"] = control
    return script, inputs


def _positional(values: dict[str, Any], prefix: str) -> list[Any]:
    found = {int(key[len(prefix):]): value for key, value in values.items()
             if key.startswith(prefix) and key[len(prefix):].isdigit()}
    return [found[i] for i in sorted(found)]


def enabled_alwayson(values: dict[str, Any]) -> dict[str, list[Any]]:
    """{title: args} of the always-on scripts whose Enable box is ticked."""
    titles = [key.split(SEP)[1] for key, value in values.items()
              if key.startswith(ALWAYSON + SEP) and key.endswith(SEP + "enabled") and value]
    return {title: _positional(values, f"{ALWAYSON}{SEP}{title}{SEP}") for title in titles}


def make_runner(ctx: AtelierContext, script: str, values: dict[str, Any]) -> Optional[Runner]:
    """The job function for the chosen script and enabled always-on scripts (None: a plain
    generation). ValueError for bad arguments, before anything is queued."""
    always = enabled_alwayson(values)
    selected: Optional[Callable[..., GenerationResult]] = None
    if script and script != NONE:
        selected = ctx.scripts.prepare(ctx.engine, script, _positional(values, f"{script}{SEP}"))
    if selected is None and not always:
        return None

    def run(request: Any, control: JobControl) -> GenerationResult:
        if always:
            kind = job_kind(request)
            request = with_fields(request, alwayson_scripts=ctx.alwayson.check(always, kind))
        if selected is not None:
            return selected(request, control)
        return ctx.engine.generate(request, control)

    return run
