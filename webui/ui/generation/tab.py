"""txt2img / img2img tabs: prompt boxes, sampler controls, styles, scripts, gallery, progress.

``generation_tab`` returns a :class:`GenerationTab` so ``build_ui`` can wire the send-to
buttons across tabs; every callback calls ``ui_actions`` (or ``gallery_actions``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.diffusion import samplers
from pipelines.diffusion.fields import FIELDS, GenerationField
from webui.ui.generation import gallery as gallery_actions
from webui.ui.generation import actions
from webui.ui.generation.field_controls import control, field_control, unplaced_controls
from webui.ui.generation.img2img_sources import SOURCE_FIELDS
from webui.ui.common import gallery_items, optional_keywords, owner, user_error
from webui.ui.generation.scripts import make_runner, script_controls


def _sampler_controls(ctx: AtelierContext, kind: str) -> dict[str, gr.components.Component]:
    settings = ctx.settings
    with gr.Row():
        sampler = gr.Dropdown([s["name"] for s in samplers.list_samplers()], value=settings.default_sampler,
                              label="Sampling method", elem_id=f"{kind}_sampler")
        scheduler = gr.Dropdown([s["label"] for s in samplers.list_schedulers()], value=settings.default_scheduler,
                                label="Schedule type", elem_id=f"{kind}_scheduler")
        steps = control("steps", kind)
    with gr.Row():
        width = control("width", kind)
        height = control("height", kind)
        swap = gr.Button("⇅", scale=0, min_width=40, elem_id="swap_size")
    swap.click(lambda w, h: (h, w), [width, height], [width, height], queue=False, api_name=f"{kind}_swap_size")
    with gr.Row():
        n_iter = control("n_iter", kind)
        batch_size = control("batch_size", kind)
        cfg_scale = control("cfg_scale", kind)
    with gr.Row():
        seed = control("seed", kind)
        random_seed = gr.Button("🎲", scale=0, min_width=40, elem_id=f"{kind}_random_seed")
        reuse_seed = gr.Button("♻", scale=0, min_width=40, elem_id=f"{kind}_reuse_seed")
    random_seed.click(lambda: -1, None, seed, queue=False, api_name=f"{kind}_random_seed")
    with gr.Accordion("Variation seed", open=False):
        with gr.Row():
            subseed = control("subseed", kind)
            subseed_strength = control("subseed_strength", kind)
    return dict(sampler_name=sampler, scheduler=scheduler, steps=steps, width=width, height=height, n_iter=n_iter,
                batch_size=batch_size, cfg_scale=cfg_scale, seed=seed, subseed=subseed,
                subseed_strength=subseed_strength, _reuse_seed=reuse_seed)


def _styles_row(ctx: AtelierContext, kind: str, prompt: gr.Textbox, negative: gr.Textbox) -> gr.Dropdown:
    """Styles (styles.csv): pick several, apply into the boxes, save the current prompts, delete."""
    with gr.Row():
        styles = gr.Dropdown(ctx.styles.names(), value=[], multiselect=True, label="Styles", scale=3,
                             elem_id=f"{kind}_styles")
        apply = gr.Button("✎ Apply", scale=0, min_width=60, elem_id=f"{kind}_style_apply")
    with gr.Accordion("Save / delete style", open=False):
        with gr.Row():
            name = gr.Textbox(label="Style name", scale=3, elem_id=f"{kind}_style_name")
            save = gr.Button("Save current prompts as style", scale=1, elem_id=f"{kind}_style_save")
            delete = gr.Button("Delete selected styles", scale=1, elem_id=f"{kind}_style_delete")

    def apply_fn(text: str, neg: str, chosen: list[str]) -> tuple:
        text, neg = actions.apply_styles(ctx, text, neg, chosen)
        return text, neg, []

    def save_fn(style_name: str, text: str, neg: str) -> tuple:
        with user_error():
            actions.save_style(ctx, style_name, text, neg)
        gr.Info(f"Style {style_name.strip()!r} saved.")
        return gr.update(choices=ctx.styles.names()), ""

    def delete_fn(chosen: list[str]) -> Any:
        for style_name in chosen or []:
            ctx.styles.delete(style_name)
        return gr.update(choices=ctx.styles.names(), value=[])

    apply.click(apply_fn, [prompt, negative, styles], [prompt, negative, styles], queue=False,
                api_name=f"{kind}_style_apply")
    save.click(save_fn, [name, prompt, negative], [styles, name], queue=False, api_name=f"{kind}_style_save")
    delete.click(delete_fn, styles, styles, queue=False, api_name=f"{kind}_style_delete")
    return styles


@dataclass
class GenerationTab:
    """The parts of a txt2img / img2img tab that other tabs fill or read."""

    kind: str
    prompt: gr.Textbox
    negative: gr.Textbox
    fields: dict[str, gr.components.Component]  # form name → component (GenerationRequest names)
    entries: gr.State  # the shown images with their infotexts (gallery_actions.Entry)
    selected: gr.State  # index picked in the gallery
    buttons: dict[str, gr.Button] = field(default_factory=dict)  # "img2img", "inpaint", "faces"
    mode_tabs: Optional[gr.Tabs] = None  # img2img only: the sub-mode tabs…
    mode: Optional[gr.State] = None  # …and the selected one's id
    read_params: Optional[gr.Button] = None  # "↙ Read generation parameters" (wired by ui_transfer)
    # sections by the field that turns them on (txt2img "enable_hr"); img2img "inpaint": the inpaint options
    accordions: dict[str, gr.Accordion] = field(default_factory=dict)

    @property
    def parameter_names(self) -> list[str]:
        """The fields an infotext can fill (not the image inputs)."""
        return [name for name in self.fields if name not in SOURCE_FIELDS]

    @property
    def form(self) -> list[gr.components.Component]:
        """Every output ``form_updates`` fills, in its order."""
        return [self.prompt, self.negative, *(self.fields[name] for name in self.parameter_names)]

    def form_updates(self, values: Optional[dict[str, Any]], text: str = "") -> list[Any]:
        """Updates for :attr:`form` from form values (absent ones keep what the user set)."""
        if values is None:
            return [gr.update()] * len(self.form)
        return [values.get("prompt", text), values.get("negative_prompt", "")] + [
            values[name] if name in values else gr.update() for name in self.parameter_names
        ]


def _img2img_sources(fields: dict[str, gr.components.Component]) -> tuple[gr.Tabs, dict[str, gr.Tab]]:
    """The img2img sub-modes as tabs (A1111: img2img, Sketch, Inpaint, Inpaint upload, Batch);
    the selected one is kept in ``fields["img2img_mode"]`` and decides what the job uses.
    Returns the tabs and each sub-tab by its id."""
    mode = gr.State("img2img")
    with gr.Tabs(elem_id="img2img_mode_tabs") as mode_tabs:
        with gr.Tab("img2img", id="img2img", elem_id="img2img_tab_img2img") as tab_img2img:
            fields["init_image"] = gr.Image(label="Image for img2img", type="pil", format="png",
                                            elem_id="img2img_image")
        with gr.Tab("Sketch", id="sketch", elem_id="img2img_tab_sketch") as tab_sketch:
            fields["sketch"] = gr.ImageEditor(label="Sketch (the drawing is the init image)", type="pil",
                                              format="png", image_mode="RGBA", elem_id="img2img_sketch",
                                              brush=gr.Brush(colors=["#000000", "#ffffff", "#e11d48", "#2563eb",
                                                                     "#16a34a", "#facc15"], color_mode="defaults"))
        with gr.Tab("Inpaint", id="inpaint", elem_id="img2img_tab_inpaint") as tab_inpaint:
            fields["inpaint_editor"] = gr.ImageEditor(
                label="Image to inpaint: paint the area to change", type="pil", format="png", image_mode="RGBA",
                elem_id="img2img_inpaint_editor", brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"),
                eraser=gr.Eraser(), layers=gr.LayerOptions(allow_additional_layers=False, layers=["mask"]))
        with gr.Tab("Inpaint upload", id="inpaint_upload", elem_id="img2img_tab_inpaint_upload") as tab_upload:
            with gr.Row():
                fields["inpaint_image"] = gr.Image(label="Image", type="pil", format="png",
                                                   elem_id="img2img_inpaint_upload_image")
                fields["inpaint_mask"] = gr.Image(label="Mask (white = repaint)", type="pil", format="png",
                                                  elem_id="img2img_inpaint_upload_mask")
        with gr.Tab("Batch", id="batch", elem_id="img2img_tab_batch") as tab_batch:
            gr.Markdown("Process every image of a folder on the server; masks are matched by file name.")
            fields["batch_input_dir"] = gr.Textbox("", label="Input directory", elem_id="img2img_batch_input_dir")
            fields["batch_output_dir"] = gr.Textbox("", label="Output directory (empty: the img2img outputs folder)",
                                                    elem_id="img2img_batch_output_dir")
            fields["batch_mask_dir"] = gr.Textbox("", label="Inpaint batch mask directory (optional)",
                                                  elem_id="img2img_batch_mask_dir")
    tabs = {"img2img": tab_img2img, "sketch": tab_sketch, "inpaint": tab_inpaint, "inpaint_upload": tab_upload,
            "batch": tab_batch}
    for name, tab in tabs.items():
        tab.select(lambda name=name: name, None, mode, queue=False, api_name=f"img2img_mode_{name}")
    fields["img2img_mode"] = mode
    return mode_tabs, tabs


# The img2img sub-tabs whose job uses a mask: only they show the inpaint options (A1111)
MASKED_MODES = ("inpaint", "inpaint_upload", "batch")


def _img2img_options(fields: dict[str, gr.components.Component]) -> gr.Accordion:
    """Resize mode, the inpaint options (hidden until a masked sub-tab is picked), denoising."""
    fields["resize_mode"] = gr.Radio(actions.RESIZE_MODES, value=actions.RESIZE_MODES[0], label="Resize mode",
                                     elem_id="img2img_resize_mode")
    with gr.Accordion("Inpaint options", open=False, visible=False, elem_id="img2img_inpaint_options") as inpaint:
        fields["mask_blur"] = control("mask_blur", "img2img")
        fields["mask_mode"] = gr.Radio(actions.MASK_MODES, value=actions.MASK_MODES[0], label="Mask mode",
                                       elem_id="img2img_mask_mode")
        fields["masked_content"] = gr.Radio(actions.MASKED_CONTENT, value="original", label="Masked content",
                                            elem_id="img2img_inpainting_fill")
        with gr.Row():
            fields["inpaint_area"] = gr.Radio(actions.INPAINT_AREAS, value=actions.INPAINT_AREAS[0],
                                              label="Inpaint area", elem_id="img2img_inpaint_full_res")
            fields["inpaint_full_res_padding"] = control("inpaint_full_res_padding", "img2img")
    fields["denoising_strength"] = gr.Slider(0.0, 1.0, value=0.75, step=0.01, label="Denoising strength",
                                             elem_id="img2img_denoising_strength")
    return inpaint


def _hires_options(ctx: AtelierContext, fields: dict[str, gr.components.Component]) -> gr.Accordion:
    with gr.Accordion("Hires. fix", open=False, elem_id="txt2img_hires_fix") as accordion:
        fields["enable_hr"] = gr.Checkbox(False, label="Enable hires. fix", elem_id="txt2img_enable_hr")
        with gr.Row():
            fields["hr_upscaler"] = gr.Dropdown(ctx.engine.hires_upscalers(), value="Latent", label="Upscaler",
                                                elem_id="txt2img_hr_upscaler")
            fields["hr_scale"] = control("hr_scale", "txt2img")
            fields["hr_second_pass_steps"] = control("hr_second_pass_steps", "txt2img")
            fields["denoising_strength"] = gr.Slider(0.0, 1.0, value=0.7, step=0.01, label="Denoising strength",
                                                     elem_id="txt2img_denoising_strength")
    return accordion


def _gallery_buttons(ctx: AtelierContext, kind: str, entries: gr.State, selected: gr.State,
                     status: gr.Markdown) -> dict[str, gr.Button]:
    """Send to img2img / inpaint / Faces (wired by build_ui), Save, Open outputs folder, reuse seed."""
    with gr.Row(elem_classes="gallery-buttons"):
        buttons = {
            "img2img": gr.Button("Send to img2img", size="sm", elem_id=f"{kind}_send_to_img2img"),
            "inpaint": gr.Button("Send to inpaint", size="sm", elem_id=f"{kind}_send_to_inpaint"),
            "faces": gr.Button("Send to Faces", size="sm", elem_id=f"{kind}_send_to_faces"),
        }
        save = gr.Button("Save", size="sm", elem_id=f"{kind}_save")
        folder = gr.Button("Open outputs folder", size="sm", elem_id=f"{kind}_open_folder")

    def save_fn(shown: list, index: Optional[int]) -> str:
        with user_error():
            path = gallery_actions.save_selected(ctx, shown, index)
        return f"Saved to `{path}`"

    def folder_fn(request: gr.Request = None) -> str:
        path = gallery_actions.outputs_folder(ctx, kind)
        host = getattr(getattr(request, "client", None), "host", None)
        opened = gallery_actions.open_in_file_manager(path, host)
        return f"Outputs folder: `{path}`" + (" (opened)" if opened else "")

    def seed_fn(shown: list, index: Optional[int]) -> int:
        return gallery_actions.selected(shown, index)["seed"] if shown else -1

    save.click(save_fn, [entries, selected], status, queue=False, api_name=f"{kind}_save")
    folder.click(folder_fn, None, status, queue=False, api_name=f"{kind}_open_folder")
    return {**buttons, "_reuse": seed_fn}


def _select_image(shown: list, evt: gr.SelectData) -> tuple[int, str]:
    """The picked index, and the generation info of that image (the info follows the selection)."""
    return evt.index, gallery_actions.selected_info(shown, evt.index)


def generation_tab(ctx: AtelierContext, kind: str, schema: Sequence[GenerationField] = FIELDS) -> GenerationTab:
    with gr.Row(elem_classes="prompt-row"):
        with gr.Column(scale=3):
            prompt = gr.Textbox("", label="Prompt", lines=3, elem_id=f"{kind}_prompt",
                                placeholder="Prompt (paste an A1111 infotext and press ↙ to read its parameters)")
            negative = gr.Textbox("", label="Negative prompt", lines=2, elem_id=f"{kind}_neg_prompt")
            with gr.Row():
                prompt_tokens = gr.Markdown("0/75", elem_id=f"{kind}_token_counter")
                negative_tokens = gr.Markdown("0/75", elem_id=f"{kind}_negative_token_counter")
            styles = _styles_row(ctx, kind, prompt, negative)
        with gr.Column(scale=1, min_width=160):
            generate = gr.Button("Generate", variant="primary", elem_id=f"{kind}_generate",
                                 elem_classes="generate-button")
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id=f"{kind}_interrupt", elem_classes="interrupt-button")
                skip = gr.Button("Skip", elem_id=f"{kind}_skip")
            read_params = gr.Button("↙ Read generation parameters", size="sm", elem_id=f"{kind}_read_params")
    extra: dict[str, gr.components.Component] = {}
    mode_tabs = None
    accordions: dict[str, gr.Accordion] = {}
    with gr.Row(elem_classes="generation-row"):
        with gr.Column():
            if kind == "img2img":
                mode_tabs, sub_tabs = _img2img_sources(extra)
                accordions["inpaint"] = inpaint_options = _img2img_options(extra)
                for name, mode_tab in sub_tabs.items():
                    mode_tab.select(lambda shown=name in MASKED_MODES: gr.update(visible=shown), None,
                                    inpaint_options, queue=False, show_progress="hidden",
                                    api_name=f"img2img_inpaint_options_{name}")
            controls = _sampler_controls(ctx, kind)
            if kind == "txt2img":
                accordions["enable_hr"] = _hires_options(ctx, extra)
            more = unplaced_controls(schema, kind, [*controls, *extra])
            if more:
                with gr.Accordion("More parameters", open=False):
                    extra.update({spec.name: field_control(spec, kind) for spec in more})
            script, script_inputs = script_controls(ctx, kind)
        with gr.Column():
            progress_box = gr.Markdown("", label="Progress", elem_id=f"{kind}_progress")
            # contain: a wide X/Y/Z grid is shown whole (labels included); a click opens it full size
            gallery = gr.Gallery(label="Output", columns=2, format="png", elem_id=f"{kind}_gallery",
                                 height="auto", object_fit="contain")
            entries = gr.State([])
            selected = gr.State(None)
            gallery_status = gr.Markdown("", elem_id=f"{kind}_gallery_status")
            buttons = _gallery_buttons(ctx, kind, entries, selected, gallery_status)
            info = gr.HTML(label="Generation info", elem_id=f"{kind}_info")

    reuse = controls.pop("_reuse_seed")
    extra["styles"] = styles
    fields = {**controls, **extra}
    # Keyword inputs: the named endpoint (api_name=kind) takes the form's field names
    # (prompt=…, steps=…, width=…), so gradio_client callers need no positions; scripts'
    # controls are script_arg_0, script_arg_1, … (their keys are not names). Every one is
    # optional for a client (an image input left out is None), as the gradio_client example in docs/api.md relies on.
    script_names = list(script_inputs)
    script_args = {f"script_arg_{i}": control for i, control in enumerate(script_inputs.values())}
    inputs = {"prompt": prompt, "negative_prompt": negative, **fields, "script_name": script, **script_args}

    def generate_fn(request: gr.Request, **values: Any):
        """Queue the job, stream queue position / progress / live preview, then show results."""
        script_name = values.pop("script_name")
        script_values = {key: values.pop(arg) for key, arg in zip(script_names, script_args)}
        form = values
        with user_error():
            job = actions.submit_form(ctx, kind, form, owner(request), make_runner(ctx, script_name, script_values))
        shown = None
        while not job.done.wait(0.3):
            preview = job.control.progress.preview
            gallery_update = gr.update()
            if preview is not None and preview is not shown:
                shown, gallery_update = preview, [(preview, "preview")]
            yield gallery_update, gr.update(), gr.update(), gr.update(), actions.status_text(ctx, job)
        with user_error():
            result = actions.finish(job)
        yield gallery_items(result), actions.result_html(result), gallery_actions.gallery_entries(result), None, ""

    generate_fn.__signature__ = optional_keywords(inputs)  # type: ignore[attr-defined]
    generate.click(generate_fn, [], [gallery, info, entries, selected, progress_box],
                   inputs_kwargs=inputs,
                   concurrency_limit=None, api_name=kind)
    gallery.select(_select_image, entries, [selected, info], queue=False, show_progress="hidden",
                   api_name=f"{kind}_gallery_select")

    # Gradio passes the request only to a parameter annotated gr.Request; without it the owner
    # is None and the queue would stop whichever job runs, another session's included.
    def interrupt_fn(request: gr.Request = None) -> None:
        ctx.queue.interrupt(owner=owner(request))

    def skip_fn(request: gr.Request = None) -> None:
        ctx.queue.skip(owner=owner(request))

    interrupt.click(interrupt_fn, None, None, queue=False, api_name=f"{kind}_interrupt")
    skip.click(skip_fn, None, None, queue=False, api_name=f"{kind}_skip")
    reuse.click(buttons.pop("_reuse"), [entries, selected], controls["seed"], queue=False, api_name=f"{kind}_reuse_seed")
    prompt.change(lambda text, steps: "Prompt tokens: " + actions.token_counter(ctx, text, steps),
                  [prompt, controls["steps"]], prompt_tokens, queue=False, show_progress="hidden",
                  api_name=f"{kind}_prompt_tokens")
    negative.change(lambda text, steps: "Negative tokens: " + actions.token_counter(ctx, text, steps, False),
                    [negative, controls["steps"]], negative_tokens, queue=False, show_progress="hidden",
                    api_name=f"{kind}_negative_tokens")
    mode = fields.pop("img2img_mode", None)
    tab = GenerationTab(kind, prompt, negative, fields, entries, selected, buttons, mode_tabs, mode, read_params,
                        accordions)
    return tab
