"""What the UI's buttons do, as plain functions (no Gradio), so tests can call them directly.

Each action builds a typed engine request, runs it as a job owned by the browser session,
reports progress, and returns plain values the Gradio layer displays.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from PIL import Image

from pipelines.context import AtelierContext
from pipelines.diffusion.engine import GenerationResult
from pipelines.diffusion.fields import FIELDS, int_fields
from pipelines.diffusion.infotext import parse_infotext, request_fields_from_infotext
from pipelines.diffusion.request import Img2ImgRequest, ResizeMode, Txt2ImgRequest
from pipelines.diffusion.fields import InpaintingFill
from pipelines.jobs import Job, Progress
from pipelines.models.catalog import empty_folder_hint
from pipelines.models.loader import ModelLoadError
from pipelines.outputs import read_infotext
from pipelines.scripts.img2img_batch import first_image, plan_batch, run_img2img_batch
from webui.ui.generation.img2img_sources import SOURCE_FIELDS, pick_sources
from webui.errors import UserError, user_message
from webui.served_paths import server_folder

ProgressCallback = Callable[[Job], None]

RESIZE_MODES = ["Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)"]
MASKED_CONTENT = ["fill", "original", "latent noise", "latent nothing"]
INPAINT_AREAS = ["Whole picture", "Only masked"]
MASK_MODES = ["Inpaint masked", "Inpaint not masked"]


def start(ctx: AtelierContext, kind: str, request: Any, owner: Optional[str],
          runner: Optional[Callable[[Any, Any], GenerationResult]] = None) -> Job:
    """Queue a generation job (or a script's ``runner``) owned by ``owner`` (the browser session)."""
    if not ctx.catalog.usable_checkpoints():
        raise UserError(empty_folder_hint(ctx.catalog.models_dir))
    try:
        ctx.engine.admit(request)  # limits and prompt text, before the job waits its turn
    except ValueError as exc:
        raise UserError(user_message(exc)) from exc
    run = runner or ctx.engine.generate
    job = ctx.queue.submit(kind, lambda control: run(request, control), owner=owner)
    job.control.preview_every = ctx.settings.preview_every()
    return job


def finish(job: Job) -> GenerationResult:
    """The job's result, or its failure as a :class:`UserError`."""
    try:
        return job.wait()
    except Exception as exc:
        raise UserError(user_message(exc)) from exc


def _run(ctx: AtelierContext, kind: str, request: Any, owner: Optional[str],
         on_progress: Optional[ProgressCallback]) -> GenerationResult:
    job = start(ctx, kind, request, owner)
    while not job.done.wait(0.2):
        if on_progress:
            on_progress(job)
    return finish(job)


def _build(cls: type, fields: dict[str, Any]) -> Any:
    try:
        return cls(**fields)
    except Exception as exc:
        raise UserError(user_message(exc)) from exc


def txt2img_request(ctx: AtelierContext, **fields: Any) -> Txt2ImgRequest:
    """The txt2img form's fields (GenerationRequest names) as a validated request."""
    fields.setdefault("clip_skip", ctx.settings.CLIP_stop_at_last_layers)
    return _build(Txt2ImgRequest, fields)


def txt2img(ctx: AtelierContext, *, owner: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
            **fields: Any) -> GenerationResult:
    """Generate from the txt2img form's fields (GenerationRequest names)."""
    return _run(ctx, "txt2img", txt2img_request(ctx, **fields), owner, on_progress)


def img2img_request(ctx: AtelierContext, *, init_image: Optional[Image.Image], mask: Optional[Image.Image] = None,
                    resize_mode: str = RESIZE_MODES[0], masked_content: str = "original",
                    inpaint_area: str = INPAINT_AREAS[0], mask_mode: str = MASK_MODES[0],
                    **fields: Any) -> Img2ImgRequest:
    """The img2img form as a validated request; labels become A1111's enum values."""
    if init_image is None:
        raise UserError("Upload an image to use img2img.")
    fields.setdefault("clip_skip", ctx.settings.CLIP_stop_at_last_layers)
    fields.update(
        init_images=[init_image],
        mask=mask,
        resize_mode=ResizeMode(RESIZE_MODES.index(resize_mode)),
        inpainting_fill=InpaintingFill(MASKED_CONTENT.index(masked_content)),
        inpaint_full_res=inpaint_area == INPAINT_AREAS[1],
        inpainting_mask_invert=MASK_MODES.index(mask_mode),
    )
    return _build(Img2ImgRequest, fields)


def img2img(ctx: AtelierContext, *, owner: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
            **form: Any) -> GenerationResult:
    """img2img / inpaint from the form's values."""
    return _run(ctx, "img2img", img2img_request(ctx, **form), owner, on_progress)


BATCH_FOLDER_LABELS = {"batch_input_dir": "Input directory", "batch_output_dir": "Output directory",
                       "batch_mask_dir": "Inpaint batch mask directory"}
# Form values Gradio may hand over as floats (sliders, numbers) that the request wants whole
INT_FIELDS = int_fields(FIELDS)


def submit_form(ctx: AtelierContext, kind: str, form: dict[str, Any], owner: Optional[str] = None,
                runner: Optional[Callable[[Any, Any], GenerationResult]] = None) -> Job:
    """Queue the txt2img / img2img form; for img2img the active sub-tab (``img2img_mode``)
    decides which image and mask are used, and "batch" runs a whole folder."""
    form = {k: (int(v) if k in INT_FIELDS and v is not None else v) for k, v in form.items()}
    form.setdefault("save_images", ctx.settings.samples_save)  # "Always save all generated images"
    if kind == "txt2img":
        return start(ctx, kind, txt2img_request(ctx, **form), owner, runner)
    sources = {name: form.pop(name, None) for name in SOURCE_FIELDS}
    mode = sources["img2img_mode"] or "img2img"
    try:
        if mode == "batch":
            if runner is not None:
                raise UserError("Scripts do not run on a batch folder: choose Script \"None\".")
            for name, label in BATCH_FOLDER_LABELS.items():
                server_folder(ctx, sources[name], label)  # refuses folders outside the served ones
            folders = plan_batch(sources["batch_input_dir"] or "", sources["batch_output_dir"] or "",
                                 sources["batch_mask_dir"] or "")
            request = img2img_request(ctx, init_image=first_image(folders), **form)
            return start(ctx, kind, request, owner,
                         lambda req, control: run_img2img_batch(ctx.engine, req, folders, control))
        init_image, mask = pick_sources(mode, sources)
    except (ValueError, OSError) as exc:
        raise UserError(user_message(exc)) from exc
    return start(ctx, kind, img2img_request(ctx, init_image=init_image, mask=mask, **form), owner, runner)


def generate_form(ctx: AtelierContext, kind: str, form: dict[str, Any], owner: Optional[str] = None,
                  runner: Optional[Callable[[Any, Any], GenerationResult]] = None) -> GenerationResult:
    """:func:`submit_form` and wait: what the Generate button does, without the streaming."""
    return finish(submit_form(ctx, kind, form, owner, runner))


def form_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Request fields (e.g. from an infotext) under the form's names, enums as the radios' labels."""
    values = dict(fields)
    if "inpainting_fill" in values:
        values["masked_content"] = MASKED_CONTENT[int(values.pop("inpainting_fill"))]
    if "inpaint_full_res" in values:
        values["inpaint_area"] = INPAINT_AREAS[int(bool(values.pop("inpaint_full_res")))]
    if "inpainting_mask_invert" in values:
        values["mask_mode"] = MASK_MODES[int(values.pop("inpainting_mask_invert"))]
    return values


def status_text(ctx: AtelierContext, job: Job) -> str:
    """Queue position while waiting, then step / ETA."""
    position = ctx.queue.position(job)
    if position > 0:
        return f"In queue: {position} job(s) ahead"
    return progress_text(job.control.progress)


def token_counter(ctx: AtelierContext, text: str, steps: int = 20, positive: bool = True) -> str:
    """A1111's counter under the prompt box: tokens / capacity of the 75-token chunks used."""
    from pipelines.networks.embeddings import encoder_widths
    from pipelines.prompts import token_count

    try:
        ctx.engine.limits.check_text("prompt", text)
    except ValueError as exc:
        return f"⚠ {exc}"
    current = ctx.manager.current
    matcher = ctx.embeddings.matcher(ctx.tokenizer, encoder_widths(current.components)) if current else None
    try:
        used, capacity = token_count(text or "", ctx.tokenizer, int(steps or 20), is_positive=positive,
                                     matcher=matcher)
    except ValueError as exc:
        return f"⚠ {exc}"
    return f"{used}/{capacity}"


def apply_styles(ctx: AtelierContext, prompt: str, negative: str, names: list[str]) -> tuple[str, str]:
    """Write the chosen styles into the prompt boxes (A1111's ✎ button)."""
    return ctx.styles.apply(prompt, negative, names or [])


def save_style(ctx: AtelierContext, name: str, prompt: str, negative: str) -> None:
    """Save the current prompts as a style in styles.csv."""
    if not (name or "").strip():
        raise UserError("Give the style a name.")
    if not (prompt or "").strip() and not (negative or "").strip():
        raise UserError("Both prompt boxes are empty: nothing to save as a style.")
    ctx.styles.create_from_prompt(name.strip(), prompt or "", negative or "")


def progress_text(progress: Progress) -> str:
    eta = progress.eta_seconds
    eta_text = f", ETA {eta:.0f}s" if eta is not None else ""
    batch = f" batch {progress.batch + 1}/{progress.batch_count}" if progress.batch_count > 1 else ""
    return f"step {progress.step}/{progress.total_steps}{batch}{eta_text}"


def result_footer(result: GenerationResult) -> str:
    """What follows the infotext under the gallery: the job's warnings and its time."""
    import html

    notes = "".join(f"<p class='warning'>{html.escape(w)}</p>" for w in result.warnings)
    state = " (interrupted)" if result.interrupted else ""
    return f"{notes}<p>Time taken: {result.seconds:.2f}s{state}</p>"


def infotext_html(infotext: str, footer: str) -> str:
    """Generation info under the gallery for one image: its infotext, then the job's footer."""
    import html

    return f"<pre class='infotext'>{html.escape(infotext)}</pre>{footer}"


def result_html(result: GenerationResult) -> str:
    """Generation info under the gallery: the first image's infotext plus timing."""
    if not result.infotexts:
        return "<p>No image was produced (interrupted before the first step).</p>"
    return infotext_html(result.infotexts[0], result_footer(result))


def result_json(result: GenerationResult) -> str:
    return json.dumps(result.info(), indent=1)


def png_info(image: Optional[Image.Image]) -> tuple[str, dict[str, Any]]:
    """Infotext and parsed fields of a dropped image ("" when it has none)."""
    if image is None:
        return "", {}
    text = read_infotext(image) or ""
    return text, (request_fields_from_infotext(text) if text else {})


def parse_prompt_box(text: str) -> Optional[dict[str, Any]]:
    """If the prompt box holds a pasted infotext, the form values it describes (form names)."""
    if not parse_infotext(text or "", with_defaults=False).params:
        return None
    return form_values(request_fields_from_infotext(text))


@dataclass
class AppliedSettings:
    """What a pasted infotext changed outside the form: the checkpoint now loaded (title),
    the clip skip now set, what was done and what could not be (for notices)."""

    checkpoint: Optional[str] = None
    clip_skip: Optional[int] = None
    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def apply_infotext_settings(ctx: AtelierContext, values: dict[str, Any]) -> AppliedSettings:
    """Apply an infotext's ``Clip skip`` and ``Model`` as A1111 does (they are settings, not form
    fields): clip skip is set, the named checkpoint is loaded; an absent one is reported."""
    applied = AppliedSettings()
    if values.get("clip_skip") is not None:
        applied.clip_skip = int(values["clip_skip"])
        if applied.clip_skip != ctx.settings.CLIP_stop_at_last_layers:
            from webui.ui.settings.actions import set_clip_skip

            applied.done.append(set_clip_skip(ctx, applied.clip_skip) + ".")
    name = values.get("checkpoint")
    if name:
        current = selected_checkpoint_title(ctx)
        try:
            wanted = ctx.catalog.find_checkpoint(str(name))
        except LookupError:
            applied.notes.append(f"Checkpoint {name!r} of the infotext is not in the models folder: "
                                 f"keeping {current or 'none'}.")
            return applied
        if wanted.title != current:
            applied.done.append(select_checkpoint(ctx, wanted.title) + ".")
        applied.checkpoint = wanted.title
    return applied


def checkpoint_titles(ctx: AtelierContext) -> list[str]:
    return [info.title for info in ctx.catalog.usable_checkpoints()]


def checkpoint_hint(ctx: AtelierContext) -> str:
    """The banner under the checkpoint dropdown: where to put models while there is none."""
    return "" if checkpoint_titles(ctx) else empty_folder_hint(ctx.catalog.models_dir)


def selected_checkpoint_title(ctx: AtelierContext) -> Optional[str]:
    """What the checkpoint dropdown shows: the loaded model, else the one that will load."""
    try:
        return ctx.manager.resolve(None).title
    except (LookupError, ModelLoadError):
        return None


def select_checkpoint(ctx: AtelierContext, title: str) -> str:
    """Switch the current checkpoint through the queue; on failure keep the old one."""
    if not title:
        raise UserError(empty_folder_hint(ctx.catalog.models_dir))
    started = time.perf_counter()
    try:
        loaded = ctx.queue.run("load-model", lambda control: ctx.manager.checkpoint(title))
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    ctx.settings_store.update({"sd_model_checkpoint": loaded.info.title})
    return f"Loaded {loaded.info.title} ({loaded.architecture.label}) in {time.perf_counter() - started:.1f}s"

