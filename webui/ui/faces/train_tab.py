"""Faces tab, "Train a face model": DeepFaceLab's workflow on a named workspace, step by step.

Inputs → faceset (gallery with delete, sort, pack) → train (live preview grid and loss plot) →
merge (live preview of one frame, then the video). The buttons call ui_faces_train_actions.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from pipelines.dfl.colour import COLOUR_MODES
from pipelines.dfl.facetype import FACE_TYPES
from pipelines.dfl.model import PRESETS
from pipelines.dfl.sort import SORT_METHODS
from pipelines.dfl.swapper import MASK_MODES
from webui.ui.faces import train_actions as actions
from webui.errors import UserError
from webui.ui.common import owner, user_error

STEPS = ("1. clear the workspace (if reused) · 2-3. frames of the source and the destination video · "
         "4-5. extract, check, sort and pack each faceset · 6. train (Quick96 by default) · "
         "7. merge with a live preview · 8. write the video (destination fps and sound).")


def _wait(ctx: Any, job: Any, status: Any) -> Iterator[Any]:
    while not job.done.wait(0.5):
        yield status(actions.status(ctx, job))


def faces_train_section(ctx: Any) -> None:
    with gr.Accordion("Train a face model (DeepFaceLab workflow)", open=False, elem_id="dfl"):
        gr.Markdown(STEPS)
        with gr.Row():
            ws = gr.Dropdown(actions.workspace_choices(ctx), value=None, allow_custom_value=True, label="Workspace",
                             elem_id="dfl_workspace", info="type a new name to create one")
            refresh = gr.Button("↻", scale=0, elem_id="dfl_refresh")
            with gr.Column():
                confirm = gr.Checkbox(False, label="Yes, delete everything in this workspace",
                                      elem_id="dfl_clear_confirm")
                clear = gr.Button("Clear workspace", variant="stop", elem_id="dfl_clear")
        summary = gr.Markdown("No workspace chosen.", elem_id="dfl_summary")
        notice = gr.Markdown("", elem_id="dfl_status")

        def show(name: Optional[str]) -> Any:
            with user_error():
                return actions.summary(ctx, name or "")

        ws.change(show, ws, summary, queue=False)
        refresh.click(lambda name: (show(name), gr.update(choices=actions.workspace_choices(ctx))), ws,
                      [summary, ws], queue=False)

        def do_clear(name: str, ok: bool) -> tuple[str, str, bool]:
            with user_error():
                text = actions.clear(ctx, name, ok)
            return text, show(name), False

        clear.click(do_clear, [ws, confirm], [notice, summary, confirm])

        with gr.Tab("Inputs", elem_id="dfl_tab_inputs"):
            for side, label in (("src", "Source (the face you want)"), ("dst", "Destination (the video it goes in)")):
                with gr.Row():
                    files = gr.File(label=f"{label}: a video or pictures", file_count="multiple",
                                    elem_id=f"dfl_{side}_files")
                    with gr.Column():
                        path = gr.Textbox(label="or a server path (inside the data or outputs folder)",
                                          elem_id=f"dfl_{side}_path")
                        fps = gr.Number(0, label="Frames per second (0 = every frame)", minimum=0,
                                        elem_id=f"dfl_{side}_fps")
                        go = gr.Button(f"Extract {side} frames", elem_id=f"dfl_{side}_frames")

                def run_frames(name: str, uploads: Any, server: str, rate: float, request: gr.Request = None,
                               side: str = side) -> Iterator[Any]:
                    paths = [getattr(f, "name", f) for f in (uploads or [])]
                    with user_error():
                        job = actions.start_frames(ctx, name, side, paths, server, rate or None, owner(request))
                    yield from _wait(ctx, job, lambda text: (text, gr.update()))
                    try:
                        yield actions.report(job), show(name)
                    except UserError as exc:
                        yield f"⚠ {exc}", show(name)

                go.click(run_frames, [ws, files, path, fps], [notice, summary])

        with gr.Tab("Faceset", elem_id="dfl_tab_faceset"):
            with gr.Row():
                side = gr.Radio(["src", "dst"], value="src", label="Side", elem_id="dfl_side")
                face_type = gr.Dropdown(list(FACE_TYPES), value="full", label="Face type", elem_id="dfl_face_type")
                size = gr.Number(256, precision=0, minimum=32, maximum=1024, label="Aligned size (px)",
                                 elem_id="dfl_size")
                all_faces = gr.Checkbox(False, label="Every face of a frame (default: the largest)")
                extract = gr.Button("Extract faces", variant="primary", elem_id="dfl_extract")
            faces = gr.Gallery(label="Faceset (select a face to delete it)", columns=8, height=320,
                               elem_id="dfl_gallery")
            selected = gr.State("")
            with gr.Row():
                delete = gr.Button("Delete selected face", elem_id="dfl_delete")
                method = gr.Dropdown(list(SORT_METHODS), value="blur", label="Sort by", elem_id="dfl_sort_method")
                keep = gr.Number(0, precision=0, minimum=0, label="Best: faces to keep", elem_id="dfl_keep")
                do_sort = gr.Button("Sort", elem_id="dfl_sort")
                do_pack = gr.Button("Pack", elem_id="dfl_pack")

            def load_gallery(name: str, which: str) -> Any:
                if not (name or "").strip():
                    return []
                with user_error():
                    return actions.gallery(ctx, name, which)

            def run_extract(name: str, which: str, kind: str, px: float, every: bool,
                            request: gr.Request = None) -> Iterator[Any]:
                with user_error():
                    job = actions.start_extract(ctx, name, which, kind, int(px or 256), every, owner(request))
                yield from _wait(ctx, job, lambda text: (text, gr.update(), gr.update()))
                try:
                    text = actions.report(job)
                except UserError as exc:
                    text = f"⚠ {exc}"
                yield text, load_gallery(name, which), show(name)

            def on_select(evt: gr.SelectData) -> str:
                caption = getattr(evt, "value", None)
                if isinstance(caption, dict):
                    caption = caption.get("caption")
                return caption or ""

            def do_delete(name: str, which: str, chosen: str) -> tuple[str, Any, str]:
                with user_error():
                    text = actions.delete(ctx, name, which, [chosen] if chosen else [])
                return text, load_gallery(name, which), show(name)

            def sort_it(name: str, which: str, how: str, count: float) -> tuple[str, Any]:
                with user_error():
                    text = actions.sort_faces(ctx, name, which, how, count)
                return text, load_gallery(name, which)

            def pack_it(name: str, which: str) -> tuple[str, str]:
                with user_error():
                    return actions.pack_faces(ctx, name, which), show(name)

            side.change(load_gallery, [ws, side], faces)
            ws.change(load_gallery, [ws, side], faces)
            extract.click(run_extract, [ws, side, face_type, size, all_faces], [notice, faces, summary])
            faces.select(on_select, None, selected)
            delete.click(do_delete, [ws, side, selected], [notice, faces, summary])
            do_sort.click(sort_it, [ws, side, method, keep], [notice, faces])
            do_pack.click(pack_it, [ws, side], [notice, summary])

        with gr.Tab("Train", elem_id="dfl_tab_train"):
            with gr.Row():
                model = gr.Dropdown(actions.model_choices(ctx), value=None, allow_custom_value=True,
                                    label="Model (models/dfl/<name>)", elem_id="dfl_model",
                                    info="an existing model resumes; a new name starts one")
                preset = gr.Dropdown(list(PRESETS), value="quick96", label="Preset (new models)",
                                     elem_id="dfl_preset")
                iterations = gr.Number(0, precision=0, minimum=0, label="Stop at iteration (0 = until Stop)",
                                       elem_id="dfl_iterations")
                save_minutes = gr.Number(5, minimum=0.1, label="Save every (minutes)", elem_id="dfl_save_minutes")
                preview_every = gr.Number(50, precision=0, minimum=1, label="Preview every (iterations)",
                                          elem_id="dfl_preview_every")
            with gr.Accordion("Model options (a new model; on resume only the recipe may change)", open=False):
                with gr.Row():
                    resolution = gr.Number(None, precision=0, label="Resolution (32-256, ×16)",
                                           elem_id="dfl_resolution")
                    model_face = gr.Dropdown([None, *FACE_TYPES], value=None, label="Face type",
                                             elem_id="dfl_model_face_type")
                    ae_dims = gr.Number(None, precision=0, label="AE dims", elem_id="dfl_ae_dims")
                    e_dims = gr.Number(None, precision=0, label="Encoder dims", elem_id="dfl_e_dims")
                    d_dims = gr.Number(None, precision=0, label="Decoder dims", elem_id="dfl_d_dims")
                    d_mask_dims = gr.Number(None, precision=0, label="Mask decoder dims", elem_id="dfl_d_mask_dims")
                with gr.Row():
                    learn_mask = gr.Checkbox(True, label="Learned mask")
                    random_warp = gr.Checkbox(True, label="Random warp")
                    colour = gr.Dropdown(list(COLOUR_MODES), value="none", label="Colour transfer in training")
                    eyes_mouth = gr.Checkbox(False, label="Eyes and mouth priority")
                    true_face = gr.Slider(0.0, 1.0, 0.0, step=0.01, label="True face power (0 = off)")
                    batch = gr.Number(None, precision=0, label="Batch size", elem_id="dfl_batch")
                    lr = gr.Number(None, label="Learning rate")
            with gr.Row():
                train = gr.Button("Train", variant="primary", elem_id="dfl_train")
                stop = gr.Button("Stop (saves)", elem_id="dfl_stop")
            train_status = gr.Markdown("", elem_id="dfl_train_status")
            with gr.Row():
                grid = gr.Image(label="Preview: src, src→src, dst, dst→dst, dst→src", type="pil", format="png",
                                interactive=False, elem_id="dfl_preview")
                loss = gr.Image(label="Loss", type="pil", format="png", interactive=False, elem_id="dfl_loss")
            job_id = gr.State("")

            def run_train(name: str, model_name: str, kind: str, until: float, minutes: float, every: float,
                          res: Optional[float], ftype: Optional[str], ae: Optional[float], e: Optional[float],
                          d: Optional[float], dm: Optional[float], mask: bool, warp: bool, ct: str, em: bool,
                          tf: float, bs: Optional[float], rate: Optional[float],
                          request: gr.Request = None) -> Iterator[Any]:
                changes = {"resolution": res, "face_type": ftype or None, "ae_dims": ae, "e_dims": e, "d_dims": d,
                           "d_mask_dims": dm, "learn_mask": mask, "random_warp": warp, "colour_transfer": ct,
                           "eyes_mouth_priority": em, "true_face_power": tf, "batch_size": bs, "lr": rate}
                # An empty number box arrives as 0 (or None): the preset's (or the saved model's) value stays.
                numbers = ("resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "batch_size", "lr")
                changes = {k: (int(v) if k in numbers and k != "lr" else v) for k, v in changes.items()
                           if v is not None and not (k in numbers and not v)}
                with user_error():
                    job = actions.start_training(ctx, name, model_name or "", kind, changes=changes,
                                                 iterations=int(until or 0), save_minutes=minutes or 5,
                                                 preview_every=int(every or 50), owner=owner(request))
                while not job.done.wait(1.0):
                    text, picture, plot = actions.training_view(ctx, job, model_name)
                    yield text, picture or gr.update(), plot or gr.update(), job.id
                text, picture, plot = actions.training_view(ctx, job, model_name)
                try:
                    text = actions.training_result(job)
                except UserError as exc:
                    text = f"⚠ {exc}"
                yield text, picture or gr.update(), plot or gr.update(), ""

            train.click(run_train, [ws, model, preset, iterations, save_minutes, preview_every, resolution,
                                    model_face, ae_dims, e_dims, d_dims, d_mask_dims, learn_mask, random_warp,
                                    colour, eyes_mouth, true_face, batch, lr], [train_status, grid, loss, job_id],
                        concurrency_limit=None)
            def stop_training(current: str, request: gr.Request = None) -> str:
                return actions.stop(ctx, current, owner(request))

            stop.click(stop_training, job_id, train_status, queue=False)

        with gr.Tab("Merge", elem_id="dfl_tab_merge"):
            with gr.Row():
                merge_model = gr.Dropdown(actions.model_choices(ctx), value=None, allow_custom_value=True,
                                          label="Trained model",
                                          elem_id="dfl_merge_model")
                frame = gr.Number(0, precision=0, minimum=0, label="Preview frame", elem_id="dfl_frame")
                mask_mode = gr.Dropdown(list(MASK_MODES), value="dst hull", label="Mask", elem_id="dfl_mask_mode")
                merge_colour = gr.Dropdown(list(COLOUR_MODES), value="rct", label="Colour transfer",
                                           elem_id="dfl_merge_colour")
            with gr.Row():
                erode = gr.Slider(-400, 400, 0, step=5, label="Erode (‰ of the face; < 0 grows)", elem_id="dfl_erode")
                blur = gr.Slider(0, 400, 50, step=5, label="Blur (‰ of the face)", elem_id="dfl_blur")
                face_scale = gr.Slider(-50, 50, 0, step=1, label="Face scale (%)", elem_id="dfl_face_scale")
                sharpen = gr.Slider(0.0, 1.0, 0.0, step=0.05, label="Sharpen")
                motion = gr.Slider(0.0, 1.0, 0.0, step=0.05, label="Motion blur (off by default)")
            with gr.Row():
                output = gr.Radio(["video", "images", "both"], value="video", label="Write",
                                  elem_id="dfl_output")
                show_preview = gr.Button("Preview frame", elem_id="dfl_preview_frame")
                write = gr.Button("Merge and write", variant="primary", elem_id="dfl_merge")
            merge_status = gr.Markdown("", elem_id="dfl_merge_status")
            with gr.Row():
                merged = gr.Image(label="Merged frame", type="pil", format="png", interactive=False,
                                  elem_id="dfl_merged_frame")
                video = gr.Video(label="Merged video", interactive=False, elem_id="dfl_video")
            controls = [mask_mode, erode, blur, face_scale, merge_colour, sharpen, motion]

            def run_preview(name: str, model_name: str, number: float, *values: Any) -> Any:
                if not (name or "").strip() or not model_name:
                    return gr.update()
                with user_error():
                    return actions.preview(ctx, name, model_name, int(number or 0), actions.merge_options(*values))

            # the request first: Gradio passes it by position, never to a keyword after *values
            def run_merge(request: gr.Request, name: str, model_name: str, kind: str,
                          *values: Any) -> Iterator[Any]:
                with user_error():
                    job = actions.start_merge(ctx, name, model_name, actions.merge_options(*values), kind,
                                              owner(request))
                yield from _wait(ctx, job, lambda text: (text, gr.update()))
                try:
                    path, text = actions.merge_result(job)
                except UserError as exc:
                    yield f"⚠ {exc}", gr.update()
                    return
                yield text, path

            show_preview.click(run_preview, [ws, merge_model, frame, *controls], merged)
            for control in (frame, *controls):
                control.change(run_preview, [ws, merge_model, frame, *controls], merged, trigger_mode="always_last")
            merge_model.focus(lambda: gr.update(choices=actions.model_choices(ctx)), outputs=merge_model, queue=False)
            model.focus(lambda: gr.update(choices=actions.model_choices(ctx)), outputs=model, queue=False)
            write.click(run_merge, [ws, merge_model, output, *controls], [merge_status, video],
                        concurrency_limit=None)
