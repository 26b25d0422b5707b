"""The Script dropdown of txt2img / img2img and each script's controls.

Layout and argument mapping only: the scripts themselves live in ``pipelines.scripts``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.diffusion.engine import GenerationResult
from pipelines.jobs import JobControl
from pipelines.scripts import (
    PromptMatrixOptions,
    PromptsFromFileOptions,
    XyzAxis,
    XyzOptions,
    axis_choices,
    list_axis_types,
    list_scripts,
    run_prompt_matrix,
    run_prompts_from_file,
    run_xyz_plot,
)

NONE = "None"
XYZ, MATRIX, FROM_FILE = "X/Y/Z plot", "Prompt matrix", "Prompts from file or textbox"
Runner = Callable[[Any, JobControl], GenerationResult]


def make_runner(ctx: AtelierContext, script: str, values: dict[str, Any]) -> Optional[Runner]:
    """The job function for the chosen script (None: a plain generation)."""
    engine = ctx.engine
    if not script or script == NONE:
        return None
    if script == XYZ:
        axes = [XyzAxis(values[f"{a}_type"], str(values[f"{a}_values"] or "")) for a in "xyz"]
        options = XyzOptions(draw_legend=values["draw_legend"], include_sub_images=values["include_sub_images"],
                             keep_random_seeds=values["keep_random_seeds"])
        return lambda req, control: run_xyz_plot(engine, req, *axes, options, control)
    if script == MATRIX:
        options = PromptMatrixOptions(put_at_start=values["put_at_start"], different_seeds=values["different_seeds"])
        return lambda req, control: run_prompt_matrix(engine, req, options, control)
    if script == FROM_FILE:
        text = str(values["prompts_text"] or "")
        options = PromptsFromFileOptions(iterate_seed=values["iterate_seed"], same_seed=values["same_seed"])
        return lambda req, control: run_prompts_from_file(engine, req, text, options, control)
    raise ValueError(f"unknown script {script!r}; available: {', '.join(list_scripts())}")


def script_controls(ctx: AtelierContext, kind: str) -> tuple[gr.Dropdown, dict[str, gr.components.Component]]:
    """The Script dropdown and every script's inputs, keyed by the names make_runner reads."""
    script = gr.Dropdown([NONE, *list_scripts()], value=NONE, label="Script", elem_id=f"{kind}_script")
    inputs: dict[str, gr.components.Component] = {}
    with gr.Group(visible=False) as xyz_group:
        for axis in "xyz":
            with gr.Row():
                axis_type = gr.Dropdown(list_axis_types(kind), value="Nothing", label=f"{axis.upper()} type",
                                        elem_id=f"{kind}_{axis}_type", scale=1)
                axis_values = gr.Textbox(label=f"{axis.upper()} values", elem_id=f"{kind}_{axis}_values", scale=3,
                                         placeholder="e.g. 1-5, 10-30 (+10), 0.5-1 [3], or a comma list")
            axis_type.change(_axis_hint(ctx), axis_type, axis_values, queue=False)
            inputs[f"{axis}_type"], inputs[f"{axis}_values"] = axis_type, axis_values
        with gr.Row():
            inputs["draw_legend"] = gr.Checkbox(True, label="Draw legend")
            inputs["include_sub_images"] = gr.Checkbox(False, label="Include sub images")
            inputs["keep_random_seeds"] = gr.Checkbox(False, label="Keep -1 for seeds")
    with gr.Group(visible=False) as matrix_group:
        with gr.Row():
            inputs["put_at_start"] = gr.Checkbox(False, label="Put variable parts at start of prompt")
            inputs["different_seeds"] = gr.Checkbox(False, label="Use different seed for each picture")
    with gr.Group(visible=False) as file_group:
        inputs["prompts_text"] = gr.Textbox(label="List of prompt inputs", lines=4, elem_id=f"{kind}_prompts_text",
                                            placeholder='one prompt per line, or --prompt "…" --steps 20 …')
        with gr.Row():
            inputs["iterate_seed"] = gr.Checkbox(False, label="Iterate seed every line")
            inputs["same_seed"] = gr.Checkbox(False, label="Use same random seed for all lines")
    groups = {XYZ: xyz_group, MATRIX: matrix_group, FROM_FILE: file_group}
    script.change(lambda name: [gr.update(visible=name == key) for key in groups], script, list(groups.values()),
                  queue=False)
    return script, inputs


def _axis_hint(ctx: AtelierContext) -> Callable[[str], Any]:
    def hint(axis_type: str) -> Any:
        choices = axis_choices(ctx, axis_type)
        return gr.update(placeholder=", ".join(choices) if choices else "e.g. 1-5, 10-30 (+10), 0.5-1 [3]")

    return hint
