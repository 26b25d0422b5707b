"""Detect tab, learned detectors section: score faces in images / videos, train and evaluate a detector."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.jobs import Job
from webui.ui.detect import actions
from webui.ui.generation.actions import progress_text
from webui.ui.common import owner, user_error


def _follow(job: Job) -> Iterator[str]:
    """Progress lines while a queued job runs."""
    while not job.done.wait(0.5):
        yield progress_text(job.control.progress)


def deepfake_section(ctx: AtelierContext) -> None:
    gr.Markdown("### Learned deepfake detectors\nWeights you bring go in `models/detectors/` "
                "(DeepfakeBench, Self-Blended Images, DFDC winner) — or train your own below.")
    with gr.Row():
        detector = gr.Dropdown(actions.detector_choices(ctx), label="Detector", scale=3,
                               value=next(iter(actions.detector_choices(ctx)), None))
        refresh = gr.Button("🔄", scale=0, min_width=40)
        threshold = gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="Threshold", scale=2)
    refresh.click(lambda: gr.update(choices=actions.detector_choices(ctx)), None, detector, queue=False)

    with gr.Tab("Picture"):
        with gr.Row():
            image = gr.Image(type="pil", label="Picture", format="png")
            with gr.Column():
                heatmaps = gr.Gallery(label="Faces (Grad-CAM)", columns=3, height=300)
                verdict = gr.Markdown()
                report = gr.JSON(label="Report")
        scan = gr.Button("Scan picture", variant="primary")

        def scan_fn(picture: Any, name: Optional[str], limit: float) -> tuple:
            with user_error():
                return actions.scan_image(ctx, picture, name, limit)

        scan.click(scan_fn, [image, detector, threshold], [heatmaps, verdict, report])

    with gr.Tab("Video"):
        with gr.Row():
            video = gr.Video(label="Video", sources=["upload"])
            with gr.Column():
                mode = gr.Radio(["per second", "every k-th frame"], value="per second", label="Sample")
                rate = gr.Number(value=2, label="Frames per second / k", precision=None)
        scan_video = gr.Button("Scan video", variant="primary")
        video_progress = gr.Markdown()
        timeline = gr.Image(label="Score timeline", type="filepath")
        video_verdict = gr.Markdown()
        tracks = gr.Dataframe(headers=["face", "frames", "mean", "confident"], label="Per face")
        video_report = gr.JSON(label="Report")

        def scan_video_fn(path: Optional[str], name: Optional[str], how: str, k: float, limit: float,
                          request: gr.Request) -> Iterator[tuple]:
            with user_error():
                job = actions.start_video_scan(ctx, path, name, how, k, limit, owner(request))
                for line in _follow(job):
                    yield line, None, "", [], None
                yield ("done", *actions.video_outputs(job))

        scan_video.click(scan_video_fn, [video, detector, mode, rate, threshold],
                         [video_progress, timeline, video_verdict, tracks, video_report])

    with gr.Tab("Train"):
        gr.Markdown("Self-Blended Images: only real faces are needed; fakes are blended from them.")
        with gr.Row():
            real_dir = gr.Textbox(label="Real faces folder (on this machine)")
            fake_dir = gr.Textbox(label="Fake faces folder (optional)")
        with gr.Row():
            arch = gr.Dropdown(actions.ARCH_CHOICES, value="efficientnet-b4", label="Architecture")
            epochs = gr.Number(value=10, precision=0, label="Epochs")
            batch = gr.Number(value=16, precision=0, label="Batch size")
            size = gr.Number(value=256, precision=0, label="Input size")
            name = gr.Textbox(label="Output name", placeholder="efficientnet-b4-sbi")
            resume = gr.Checkbox(label="Resume")
        train = gr.Button("Train", variant="primary")
        train_progress = gr.Markdown()
        train_report = gr.JSON(label="Training report")

        def train_fn(real: str, fake: str, a: str, e: float, b: float, s: float, n: str, r: bool,
                     request: gr.Request) -> Iterator[tuple]:
            with user_error():
                job = actions.start_training(ctx, real, fake, a, e, b, s, n, r, owner=owner(request))
                for line in _follow(job):
                    yield line, None
                yield actions.training_outputs(job)

        train.click(train_fn, [real_dir, fake_dir, arch, epochs, batch, size, name, resume],
                    [train_progress, train_report])

    with gr.Tab("Evaluate"):
        gr.Markdown("Score folders of real and fake pictures / videos with the selected detector: frame- and "
                    "video-level AUC, EER, AP, accuracy at the threshold with bootstrap intervals, per-domain AUC "
                    "(sub-folders of the fake folder); figures and `eval.json` go beside the model.")
        with gr.Row():
            eval_real = gr.Textbox(label="Real folder (on this machine)")
            eval_fake = gr.Textbox(label="Fake folder (its sub-folders are the domains)")
            crops = gr.Checkbox(label="Pictures are face crops (score them whole)")
        evaluate = gr.Button("Evaluate", variant="primary")
        eval_text = gr.Markdown()
        with gr.Row():
            roc = gr.Image(label="ROC", type="filepath")
            calibration = gr.Image(label="Calibration", type="filepath")
        eval_report = gr.JSON(label="Evaluation")

        def evaluate_fn(real: str, fake: str, name: Optional[str], limit: float, whole: bool,
                        request: gr.Request) -> Iterator[tuple]:
            with user_error():
                job = actions.start_evaluation(ctx, real, fake, name, limit, whole, owner(request))
                for line in _follow(job):
                    yield line, None, None, None
                yield actions.evaluation_outputs(job)

        evaluate.click(evaluate_fn, [eval_real, eval_fake, detector, threshold, crops],
                       [eval_text, roc, calibration, eval_report])
