"""Faces tab: detect faces, swap faces in an image, save face models (video: ui_faces_video)."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.faces.classic import BLENDS
from pipelines.faces.masks import MaskOptions
from pipelines.faces.order import ORDERS
from pipelines.faces.swap import SELECTORS
from webui.ui.faces import actions
from webui.ui.common import user_error
from webui.ui.faces.train_tab import faces_train_section
from webui.ui.faces.video_tab import faces_video_section


def _notice(ctx: AtelierContext) -> gr.Group:
    with gr.Group(visible=actions.notice_needed(ctx)) as box:
        gr.Markdown(actions.NOTICE)
        ok = gr.Button("I understand", variant="primary", elem_id="faces_notice_ack")

    def acknowledge() -> Any:
        actions.acknowledge_notice(ctx)
        return gr.update(visible=False)

    ok.click(acknowledge, outputs=box)
    return box


def faces_tab(ctx: AtelierContext) -> dict[str, gr.components.Component]:
    """Build the tab; returns the components other tabs send images to ("source_image", "target_image")
    and the responsible-use notice (read again on page load)."""
    notice = _notice(ctx)
    with gr.Tab("Swap image"):
        with gr.Row():
            source = gr.Image(label="Source face", type="pil", format="png", elem_id="faces_source_image")
            target = gr.Image(label="Target image", type="pil", format="png", elem_id="faces_target_image")
            result = gr.Image(label="Result", type="pil", format="png", interactive=False, elem_id="faces_result")
        with gr.Row():
            face_model = gr.Dropdown(actions.face_model_choices(ctx), value=actions.NO_FACE_MODEL,
                                     label="or saved face model", elem_id="faces_face_model")
            source_index = gr.Number(0, precision=0, minimum=0, label="Source face #")
            target_indices = gr.Textbox("0", label="Target faces (e.g. 0, 2 or all)")
            selector = gr.Radio(list(SELECTORS), value="indices", label="Faces to swap", elem_id="faces_selector",
                                info="many: all; one: the first in face order; reference: like the reference face")
            swap_order = gr.Dropdown(list(ORDERS), value="left-right", label="Face order", elem_id="faces_swap_order")
            method = gr.Dropdown(ctx.faces.swap_methods(), value="auto", label="Method", elem_id="faces_method",
                                 info="a trained model (models/dfl) holds its source person: no source face needed")
        with gr.Accordion("Which faces", open=False):
            with gr.Row():
                reference = gr.Image(label="Reference face (swap only this person)", type="pil", format="png")
                threshold = gr.Slider(0.0, 1.5, 0.0, step=0.01,
                                      label="Reference distance threshold (0 = the embedding model's own)")
                gender = gr.Radio(["any", "F", "M"], value="any", label="Gender filter")
        with gr.Accordion("Mask and restore", open=False):
            with gr.Row():
                erosion = gr.Slider(0.0, 0.45, MaskOptions.erosion, step=0.01, label="Mask erosion")
                blur = gr.Slider(0.0, 0.5, MaskOptions.blur, step=0.01, label="Mask blur")
                opacity = gr.Slider(0.0, 1.0, 1.0, step=0.05, label="Opacity")
                blend = gr.Radio(list(BLENDS), value="multiband", label="Classic blend")
            with gr.Row():
                restore = gr.Dropdown(actions.restorer_choices(ctx), value=actions.NO_FACE_MODEL,
                                      label="Restore faces (models/facerestore)")
                restore_weight = gr.Slider(0.0, 1.0, 1.0, step=0.05, label="Restore weight")
        method.focus(lambda: gr.update(choices=ctx.faces.swap_methods()), outputs=method, queue=False)
        swap = gr.Button("Swap", variant="primary", elem_id="faces_swap")
        info = gr.Textbox(label="Info", interactive=False, elem_id="faces_info")
        swap.click(user_error()(functools.partial(actions.swap_image, ctx)),
                   [source, face_model, target, source_index, target_indices, method, reference, threshold, gender,
                    erosion, blur, opacity, blend, restore, restore_weight, swap_order, selector], [result, info])
    with gr.Tab("Detect"):
        with gr.Row():
            detect_in = gr.Image(label="Image", type="pil", format="png", elem_id="faces_detect_image")
            detect_out = gr.Image(label="Faces", type="pil", format="png", interactive=False)
        order = gr.Radio(list(ORDERS), value="left-right", label="Number faces")
        detect = gr.Button("Detect", elem_id="faces_detect")
        table = gr.Dataframe(headers=actions.DETECT_COLUMNS, interactive=False)
        detect.click(user_error()(functools.partial(actions.detect_faces, ctx)), [detect_in, order], [detect_out, table])
    with gr.Tab("Face models"):
        images = gr.Gallery(label="Images of one person (first face of each)", type="pil", format="png")
        name = gr.Textbox(label="Name")
        save = gr.Button("Save face model")
        status = gr.Markdown()

        def save_model(name_text: str, gallery: Any) -> tuple[str, Any]:
            pictures = [item[0] if isinstance(item, (tuple, list)) else item for item in gallery or []]
            text = actions.save_face_model(ctx, name_text, pictures)
            return text, gr.update(choices=actions.face_model_choices(ctx))

        save.click(user_error()(save_model), [name, images], [status, face_model])
    faces_video_section(ctx)
    faces_train_section(ctx)
    return {"source_image": source, "target_image": target, "notice": notice}
