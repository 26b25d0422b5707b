"""Gradio controls of the built-in scripts, one per positional argument in A1111's order."""

from __future__ import annotations

from typing import Any, Callable

import gradio as gr

from webui.extensions import Extension, list_axis_types


def xyz_controls(kind: str, ext: Extension) -> list[Any]:
    """3 × (type, values, dropdown), draw_legend, include_lone_images, include_sub_grids,
    no_fixed_seeds, vary_seeds_x/y/z, margin_size, csv_mode."""
    controls: list[Any] = []
    for axis in "xyz":
        with gr.Row():
            axis_type = gr.Dropdown(list_axis_types(kind), value="Nothing", label=f"{axis.upper()} type",
                                    elem_id=f"{kind}_{axis}_type", scale=1)
            axis_values = gr.Textbox("", label=f"{axis.upper()} values", elem_id=f"{kind}_{axis}_values", scale=3,
                                     placeholder="e.g. 1-5, 10-30 (+10), 0.5-1 [3], or a comma list")
        axis_type.change(_axis_hint(ext), axis_type, axis_values, queue=False)
        controls += [axis_type, axis_values, gr.State([])]
    with gr.Row():
        controls += [gr.Checkbox(True, label="Draw legend"), gr.Checkbox(False, label="Include sub images"),
                     gr.Checkbox(False, label="Include sub grids"), gr.Checkbox(False, label="Keep -1 for seeds")]
    with gr.Row():
        controls += [gr.Checkbox(False, label=f"Vary seeds for {axis}") for axis in "XYZ"]
        controls += [gr.Slider(0, 500, value=0, step=2, label="Grid margins (px)"), gr.State(True)]
    return controls


def matrix_controls(kind: str, ext: Extension) -> list[Any]:
    with gr.Row():
        put_at_start = gr.Checkbox(False, label="Put variable parts at start of prompt")
        different_seeds = gr.Checkbox(False, label="Use different seed for each picture")
    with gr.Row():
        prompt_type = gr.Radio(["positive", "negative"], value="positive", label="Select prompt")
        delimiter = gr.Radio(["comma", "space"], value="comma", label="Select joining char")
        margin = gr.Slider(0, 500, value=0, step=2, label="Grid margins (px)")
    return [put_at_start, different_seeds, prompt_type, delimiter, margin]


def prompts_file_controls(kind: str, ext: Extension) -> list[Any]:
    with gr.Row():
        iterate_seed = gr.Checkbox(False, label="Iterate seed every line")
        same_seed = gr.Checkbox(False, label="Use same random seed for all lines")
        position = gr.Radio(["start", "end"], value="start", label="Insert prompts at the")
    text = gr.Textbox("", label="List of prompt inputs", lines=4, elem_id=f"{kind}_prompts_text",
                      placeholder='one prompt per line, or --prompt "…" --steps 20 …')
    return [iterate_seed, same_seed, position, text]


def sd_upscale_controls(kind: str, ext: Extension) -> list[Any]:
    """A1111's order: info, tile overlap, upscaler (as its index), scale factor."""
    gr.Markdown("Upscales the init image by the scale factor, then redraws it in tiles of the width × height set above.")
    names = ext.pixel_upscalers()
    with gr.Row():
        overlap = gr.Slider(0, 256, value=64, step=16, label="Tile overlap")
        scale = gr.Slider(1.0, 4.0, value=2.0, step=0.05, label="Scale Factor")
    upscaler = gr.Radio(names, value=names[0], type="index", label="Upscaler")
    return [gr.State(""), overlap, upscaler, scale]


def _axis_hint(ext: Extension) -> Callable[[str], Any]:
    def hint(axis_type: str) -> Any:
        choices = ext.axis_choices(axis_type)
        return gr.update(placeholder=", ".join(choices) if choices else "e.g. 1-5, 10-30 (+10), 0.5-1 [3]")

    return hint
