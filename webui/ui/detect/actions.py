"""What the learned-detector controls of the Detect tab do, as plain functions (tested directly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PIL import Image

from pipelines.context import AtelierContext
from pipelines.jobs import Job
from webui.errors import UserError, user_message
from webui.served_paths import server_folder

ARCH_CHOICES = ["efficientnet-b4", "xception", "efficientnet-b0", "efficientnet-b7"]


def detector_choices(ctx: AtelierContext) -> list[str]:
    return ctx.detectors.names()


def _require_detector(ctx: AtelierContext, name: Optional[str]) -> str:
    if not name:
        names = detector_choices(ctx)
        if not names:
            raise UserError(f"No detector in {ctx.detectors.folder}: add DeepfakeBench / SBI / DFDC weights "
                            "there, or train one below.")
        return names[0]
    return name


def scan_image(ctx: AtelierContext, image: Optional[Image.Image], detector: Optional[str],
               threshold: Optional[float] = None) -> tuple[list[tuple[Image.Image, str]], str, dict[str, Any]]:
    """(Grad-CAM gallery with captions, verdict text, JSON report) for one picture."""
    from pipelines.detect.image import analyse_image

    if image is None:
        raise UserError("Upload a picture to scan.")
    name = _require_detector(ctx, detector)
    try:
        report = ctx.queue.run("detect-image", lambda control: analyse_image(ctx, image, name, True, threshold))
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    gallery = [(f.heatmap, f"{'whole picture' if f.whole_image else f'face {i + 1}'}: P(fake) {f.fake_score:.3f}")
               for i, f in enumerate(report.faces) if f.heatmap is not None]
    return gallery, report.verdict, report.to_json()


def start_video_scan(ctx: AtelierContext, video: Optional[str], detector: Optional[str], mode: str, rate: float,
                     threshold: Optional[float] = None, owner: Optional[str] = None) -> Job:
    """Queue a video scan; ``mode`` 'per second' samples ``rate`` frames a second, else every ``rate``-th."""
    from pipelines.detect.video import Sampling, analyse_video

    if not video:
        raise UserError("Upload a video to scan.")
    name = _require_detector(ctx, detector)
    try:
        sampling = Sampling(per_second=float(rate)) if mode == "per second" else Sampling(every=int(rate))
        sampling.step(25.0)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return ctx.queue.submit("detect-video", lambda control: analyse_video(ctx, Path(video), name, sampling, control,
                                                                          threshold), owner=owner)


def video_outputs(job: Job) -> tuple[Optional[str], str, list[list[Any]], dict[str, Any]]:
    """(timeline PNG path, verdict, per-track rows, JSON report) of a finished video scan."""
    try:
        report = job.wait()
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    rows = [[t.track_id, len(t.scores), round(t.mean, 3), round(t.confident, 3)] for t in report.tracks]
    flagged = ", ".join(f"{s.start:.1f}–{s.end:.1f}s (peak {s.peak:.2f})" for s in report.segments) or "none"
    text = f"{report.verdict}\n\nFlagged segments: {flagged}"
    return str(report.timeline) if report.timeline else None, text, rows, report.to_json()


def start_training(ctx: AtelierContext, real_dir: str, fake_dir: str, arch: str, epochs: int, batch_size: int,
                   size: int, name: str, resume: bool, owner: Optional[str] = None) -> Job:
    """Queue ``train-detector`` with the form's values; the result appears in the detector list."""
    from pipelines.detect.train import TrainConfig, train_detector

    if not (real_dir or "").strip():
        raise UserError("Give the folder of real face pictures (on this machine).")
    try:
        real, fake = server_folder(ctx, real_dir, "Real faces folder"), server_folder(ctx, fake_dir, "Fake faces folder")
        config = TrainConfig(real_dir=real, fake_dir=fake,
                             arch=arch, epochs=int(epochs), batch_size=int(batch_size), size=int(size),
                             name=(name or f"{arch}-sbi").strip(), resume=bool(resume))
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if not config.real_dir.is_dir():
        raise UserError(f"{config.real_dir}: not a folder")
    work = ctx.config.data_dir / "train-detector"
    return ctx.queue.submit("train-detector", lambda control: train_detector(
        config, ctx.config.models_dir, work, lambda image: ctx.faces.detect(image, embed=False), control,
        log=lambda line: None), owner=owner)


def training_outputs(job: Job) -> tuple[str, dict[str, Any]]:
    try:
        report = job.wait()
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    lines = [f"epoch {e['epoch']}: loss {e['loss']:.4f}, validation AUC {e['val_auc']:.3f}" for e in report.epochs]
    balance = report.class_balance.get("val", {})
    if report.installed:
        done = (f"Wrote {report.weights.name} (validation AUC {report.val_auc:.3f} at epoch {report.best_epoch}, "
                f"on people it never trained on: {balance.get('real', 0)} real / {balance.get('fake', 0)} fake faces); "
                "pick it in the detector list.")
    elif report.epochs:
        done = f"**Not installed**: {report.refusal}. The weights stay in {report.weights.parent} and are not offered in Detect."
    else:
        done = "Stopped before an epoch ended."
    return "\n".join([*lines, done]), report.to_json()


def start_evaluation(ctx: AtelierContext, real_dir: str, fake_dir: str, detector: Optional[str],
                     threshold: Optional[float], whole_image: bool, owner: Optional[str] = None) -> Job:
    """Queue ``eval-detector`` on two folders of this machine; results go beside the model."""
    from pipelines.detect.evaluate import evaluate, evaluation_folder

    folders = []
    for label, text in (("real", real_dir), ("fake", fake_dir)):
        if not (text or "").strip():
            raise UserError(f"Give the folder of {label} pictures or videos (on this machine).")
        try:
            folder = server_folder(ctx, text, f"The {label} folder")
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        if not folder.is_dir():
            raise UserError(f"{folder}: not a folder")
        folders.append(folder)
    name = _require_detector(ctx, detector)

    def run(control: Any) -> Any:
        loaded = ctx.detectors.load(name)
        find = (lambda image: []) if whole_image else (lambda image: ctx.faces.detect(image, embed=False))
        return evaluate(loaded, folders[0], folders[1], find, evaluation_folder(ctx.detectors.path(name)), threshold)

    return ctx.queue.submit("eval-detector", run, owner=owner)


def evaluation_outputs(job: Job) -> tuple[str, Optional[str], Optional[str], dict[str, Any]]:
    """(summary, ROC PNG path, calibration PNG path, JSON) of a finished evaluation."""
    try:
        result = job.wait()
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    text = (f"**{result.detector}**, threshold {result.threshold:.2f} (95% bootstrap intervals over videos / "
            f"folders)\n\n```\n{result.summary()}\n```\n\nSaved in `{result.folder}`")
    return text, result.figures.get("roc"), result.figures.get("calibration"), result.to_json()
