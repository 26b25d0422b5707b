"""Faces tab, video section: swap a face into a video as a queued job, with progress and cancel."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.faces.order import ORDERS
from webui.ui.faces import video_actions as actions
from webui.errors import UserError
from webui.ui.common import owner, user_error


def faces_video_section(ctx: AtelierContext) -> None:
    """Video in, source face, target choice; the result plays below once the job is done."""
    with gr.Accordion("Swap faces in a video", open=False, elem_id="faces_video"):
        gr.Markdown("mp4, webm, mov or gif. Frames are swapped one by one, the chosen person is followed "
                    "from frame to frame, and the sound of the source is kept. Results go to `outputs/faces/`.")
        with gr.Row():
            video = gr.Video(label="Video", sources=["upload"], elem_id="faces_video_input")
            source = gr.Image(label="Source face", type="pil", format="png", elem_id="faces_video_source")
            with gr.Column():
                target = gr.Textbox("0", label="Target face", elem_id="faces_video_target",
                                    info="Number on the first frame with faces (0 = first), or 'all'")
                source_index = gr.Number(0, precision=0, minimum=0, label="Source face number",
                                         elem_id="faces_video_source_index")
                method = gr.Dropdown(ctx.faces.swap_methods(), value="auto", label="Method",
                                     elem_id="faces_video_method",
                                     info="a trained model (models/dfl) needs no source face")
                order = gr.Dropdown(list(ORDERS), value="left-right", label="Face order",
                                    elem_id="faces_video_order")
                with gr.Accordion("Reference face (swap only this person)", open=False):
                    reference = gr.Image(label="Reference face", type="pil", format="png",
                                         elem_id="faces_video_reference")
                    distance = gr.Slider(0.0, 1.5, value=0.0, step=0.01,
                                         label="Max identity distance (0 = the embedding model's own)",
                                         elem_id="faces_video_distance")
        with gr.Row():
            start = gr.Button("Swap video", variant="primary", elem_id="faces_video_start")
            cancel = gr.Button("Cancel", elem_id="faces_video_cancel")
        progress = gr.Markdown("", elem_id="faces_video_progress")
        with gr.Row():
            result = gr.Video(label="Result", interactive=False, elem_id="faces_video_result")
            saved = gr.Textbox(label="Saved to", interactive=False, elem_id="faces_video_path")
        job_id = gr.State("")

    def run(video_path: Optional[str], source_image: Any, target_text: str, source_face: float, method_name: str,
            face_order: str, reference_image: Any, max_distance: float,
            request: gr.Request = None) -> Iterator[tuple[Any, ...]]:
        """Queue the job, stream its status line, then show the video."""
        with user_error():
            job = actions.start(ctx, video_path, source_image, target=target_text, source_face_index=int(source_face or 0),
                                method=method_name, face_order=face_order, reference=reference_image,
                                reference_max_distance=max_distance, owner=owner(request))
        while not job.done.wait(0.5):
            yield gr.update(), gr.update(), actions.status(ctx, job), job.id
        try:
            path, summary = actions.result(job)
        except UserError as exc:
            yield None, "", f"⚠ {exc}", ""
            return
        yield path, path, summary, ""

    def stop(current: str, request: gr.Request = None) -> str:
        return actions.cancel(ctx, current, owner(request))

    method.focus(lambda: gr.update(choices=ctx.faces.swap_methods()), outputs=method, queue=False)
    start.click(run, [video, source, target, source_index, method, order, reference, distance],
                [result, saved, progress, job_id], concurrency_limit=None)
    cancel.click(stop, job_id, progress, queue=False)
