"""txt2img / img2img tabs: prompt boxes, sampler controls, styles, scripts, gallery, progress."""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.diffusion import samplers
from pipelines.diffusion.request import MIN_SIDE
from webui import ui_actions as actions
from webui.ui_common import gallery_items, owner
from webui.ui_scripts import make_runner, script_controls


def _sampler_controls(ctx: AtelierContext, kind: str) -> dict[str, gr.components.Component]:
    settings = ctx.settings
    with gr.Row():
        sampler = gr.Dropdown([s["name"] for s in samplers.list_samplers()], value=settings.default_sampler,
                              label="Sampling method", elem_id=f"{kind}_sampler")
        scheduler = gr.Dropdown([s["label"] for s in samplers.list_schedulers()], value=settings.default_scheduler,
                                label="Schedule type", elem_id=f"{kind}_scheduler")
        steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id=f"{kind}_steps")
    with gr.Row():
        width = gr.Slider(MIN_SIDE, 2048, value=512, step=8, label="Width", elem_id=f"{kind}_width")
        height = gr.Slider(MIN_SIDE, 2048, value=512, step=8, label="Height", elem_id=f"{kind}_height")
        swap = gr.Button("⇅", scale=0, min_width=40, elem_id="swap_size")
    swap.click(lambda w, h: (h, w), [width, height], [width, height], queue=False)
    with gr.Row():
        n_iter = gr.Slider(1, 100, value=1, step=1, label="Batch count", elem_id=f"{kind}_n_iter")
        batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id=f"{kind}_batch_size")
        cfg_scale = gr.Slider(1.0, 30.0, value=7.0, step=0.5, label="CFG Scale", elem_id=f"{kind}_cfg_scale")
    with gr.Row():
        seed = gr.Number(value=-1, precision=0, label="Seed", elem_id=f"{kind}_seed")
        random_seed = gr.Button("🎲", scale=0, min_width=40)
        reuse_seed = gr.Button("♻", scale=0, min_width=40)
    random_seed.click(lambda: -1, None, seed, queue=False)
    with gr.Accordion("Variation seed", open=False):
        with gr.Row():
            subseed = gr.Number(value=-1, precision=0, label="Variation seed", elem_id=f"{kind}_subseed")
            subseed_strength = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Variation strength", elem_id=f"{kind}_subseed_strength")
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
        try:
            actions.save_style(ctx, style_name, text, neg)
        except actions.UserError as exc:
            raise gr.Error(str(exc)) from exc
        gr.Info(f"Style {style_name.strip()!r} saved.")
        return gr.update(choices=ctx.styles.names()), ""

    def delete_fn(chosen: list[str]) -> Any:
        for style_name in chosen or []:
            ctx.styles.delete(style_name)
        return gr.update(choices=ctx.styles.names(), value=[])

    apply.click(apply_fn, [prompt, negative, styles], [prompt, negative, styles], queue=False)
    save.click(save_fn, [name, prompt, negative], [styles, name], queue=False)
    delete.click(delete_fn, styles, styles, queue=False)
    return styles


def generation_tab(ctx: AtelierContext, kind: str) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{kind}_prompt",
                                placeholder="Prompt (paste an A1111 infotext and press ↙ to read its parameters)")
            negative = gr.Textbox(label="Negative prompt", lines=2, elem_id=f"{kind}_neg_prompt")
            with gr.Row():
                prompt_tokens = gr.Markdown("0/75", elem_id=f"{kind}_token_counter")
                negative_tokens = gr.Markdown("0/75", elem_id=f"{kind}_negative_token_counter")
            styles = _styles_row(ctx, kind, prompt, negative)
        with gr.Column(scale=1, min_width=160):
            generate = gr.Button("Generate", variant="primary", elem_id=f"{kind}_generate")
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id=f"{kind}_interrupt")
                skip = gr.Button("Skip", elem_id=f"{kind}_skip")
            read_params = gr.Button("↙ Read generation parameters", size="sm")
    extra: dict[str, gr.components.Component] = {}
    with gr.Row():
        with gr.Column():
            if kind == "img2img":
                with gr.Tab("img2img / inpaint upload"):
                    extra["init_image"] = gr.Image(label="Image", type="pil", format="png", elem_id="img2img_image")
                    extra["mask"] = gr.Image(label="Mask (white = repaint; optional)", type="pil", format="png",
                                             image_mode="L", elem_id="img2img_mask")
                extra["resize_mode"] = gr.Radio(actions.RESIZE_MODES, value=actions.RESIZE_MODES[0], label="Resize mode")
                with gr.Accordion("Inpaint", open=True):
                    extra["mask_blur"] = gr.Slider(0, 64, value=4, step=1, label="Mask blur")
                    extra["mask_mode"] = gr.Radio(actions.MASK_MODES, value=actions.MASK_MODES[0], label="Mask mode")
                    extra["masked_content"] = gr.Radio(actions.MASKED_CONTENT, value="original", label="Masked content")
                    extra["inpaint_area"] = gr.Radio(actions.INPAINT_AREAS, value=actions.INPAINT_AREAS[0],
                                                     label="Inpaint area")
                    extra["inpaint_full_res_padding"] = gr.Slider(0, 256, value=32, step=4,
                                                                  label="Only masked padding, pixels")
                extra["denoising_strength"] = gr.Slider(0.0, 1.0, value=0.75, step=0.01, label="Denoising strength")
            controls = _sampler_controls(ctx, kind)
            if kind == "txt2img":
                with gr.Accordion("Hires. fix", open=False):
                    extra["enable_hr"] = gr.Checkbox(False, label="Enable hires. fix")
                    with gr.Row():
                        extra["hr_upscaler"] = gr.Dropdown(["Latent", "Latent (antialiased)", "Latent (bicubic)",
                                                            "Latent (nearest)", "Lanczos", "Nearest"],
                                                           value="Latent", label="Upscaler")
                        extra["hr_scale"] = gr.Slider(1.0, 4.0, value=2.0, step=0.05, label="Upscale by")
                        extra["hr_second_pass_steps"] = gr.Slider(0, 150, value=0, step=1, label="Hires steps")
                        extra["denoising_strength"] = gr.Slider(0.0, 1.0, value=0.7, step=0.01,
                                                                label="Denoising strength")
            script, script_inputs = script_controls(ctx, kind)
        with gr.Column():
            progress_box = gr.Markdown("", elem_id=f"{kind}_progress")
            gallery = gr.Gallery(label="Output", columns=2, format="png", elem_id=f"{kind}_gallery",
                                 height="auto")
            info = gr.HTML(elem_id=f"{kind}_info")
            seeds_state = gr.State([])

    reuse = controls.pop("_reuse_seed")
    extra["styles"] = styles
    names = list(controls) + list(extra)
    components = list(controls.values()) + list(extra.values())
    script_names = list(script_inputs)
    all_inputs = [prompt, negative, *components, script, *script_inputs.values()]

    def generate_fn(request: gr.Request, prompt_text: str, negative_text: str, *values: Any):
        """Queue the job, stream queue position / progress / live preview, then show results.

        ``request`` comes first: Gradio injects it only into an annotated parameter before ``*values``.
        """
        fields = dict(zip(names, values[:len(names)]))
        script_name = values[len(names)]
        script_values = dict(zip(script_names, values[len(names) + 1:]))
        for key in ("steps", "width", "height", "n_iter", "batch_size", "seed", "subseed", "mask_blur",
                    "hr_second_pass_steps", "inpaint_full_res_padding"):
            if key in fields and fields[key] is not None:
                fields[key] = int(fields[key])
        build = actions.txt2img_request if kind == "txt2img" else actions.img2img_request
        try:
            runner = make_runner(ctx, script_name, script_values)
            job = actions.start(ctx, kind, build(ctx, prompt=prompt_text, negative_prompt=negative_text, **fields),
                                owner(request), runner)
        except (actions.UserError, ValueError) as exc:
            raise gr.Error(actions.user_message(exc)) from exc
        shown = None
        while not job.done.wait(0.3):
            preview = job.control.progress.preview
            gallery_update = gr.update()
            if preview is not None and preview is not shown:
                shown, gallery_update = preview, [(preview, "preview")]
            yield gallery_update, gr.update(), gr.update(), actions.status_text(ctx, job)
        try:
            result = actions.finish(job)
        except actions.UserError as exc:
            raise gr.Error(str(exc)) from exc
        yield gallery_items(result), actions.result_html(result), result.seeds, ""

    generate.click(generate_fn, all_inputs, [gallery, info, seeds_state, progress_box], concurrency_limit=None)
    # Gradio passes the request only to a parameter annotated gr.Request; without it the owner
    # is None and the queue would stop whichever job runs, another session's included.
    def interrupt_fn(request: gr.Request = None) -> None:
        ctx.queue.interrupt(owner=owner(request))

    def skip_fn(request: gr.Request = None) -> None:
        ctx.queue.skip(owner=owner(request))

    interrupt.click(interrupt_fn, None, None, queue=False)
    skip.click(skip_fn, None, None, queue=False)
    reuse.click(lambda seeds: seeds[0] if seeds else -1, seeds_state, controls["seed"], queue=False)
    prompt.change(lambda text, steps: "Prompt tokens: " + actions.token_counter(ctx, text, steps),
                  [prompt, controls["steps"]], prompt_tokens, queue=False, show_progress="hidden")
    negative.change(lambda text, steps: "Negative tokens: " + actions.token_counter(ctx, text, steps, False),
                    [negative, controls["steps"]], negative_tokens, queue=False, show_progress="hidden")

    def read_fn(text: str) -> list:
        fields = actions.parse_prompt_box(text)
        if fields is None:
            gr.Warning("The prompt box holds no generation parameters to read.")
            return [gr.update()] * (2 + len(names))
        return [fields.get("prompt", text), fields.get("negative_prompt", "")] + [
            fields.get(name, gr.update()) for name in names
        ]

    read_params.click(read_fn, prompt, [prompt, negative, *components], queue=False)
