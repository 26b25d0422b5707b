"""What the Faces tab's buttons do, as plain functions (no Gradio), so tests can call them directly."""

from __future__ import annotations

from typing import Any, Optional, Union

from PIL import Image

from pipelines.context import AtelierContext
from pipelines.faces.draw import draw_faces
from pipelines.faces.errors import FaceError
from pipelines.faces.masks import MaskOptions
from pipelines.faces.swap import parse_targets, selected_targets
from webui.errors import UserError, user_message

NOTICE = (
    "**Responsible use.** Only swap faces of people who agreed to it, never to deceive, harass or "
    "impersonate, and label swapped images as edited. Every swapped image is saved with a description of "
    "the edit in its metadata."
)
DETECT_COLUMNS = ["#", "score", "age", "gender", "box"]
NO_FACE_MODEL = "(none)"


def notice_needed(ctx: AtelierContext) -> bool:
    return not ctx.settings.faces_notice_acknowledged


def acknowledge_notice(ctx: AtelierContext) -> None:
    """Remember in the data dir's settings that the notice was read (shown once per data dir)."""
    ctx.settings_store.update({"faces_notice_acknowledged": True})


def parse_indices(text: str) -> Union[list[int], str]:
    """``"0, 2"`` → [0, 2]; ``"all"`` → "all"."""
    try:
        return parse_targets(text)
    except FaceError as exc:
        raise UserError(str(exc)) from exc


def detect_faces(ctx: AtelierContext, image: Optional[Image.Image], order: str) -> tuple[Image.Image, list[list[Any]]]:
    """The image with numbered faces drawn, and a table row per face."""
    if image is None:
        raise UserError("Upload an image to detect faces in.")
    try:
        faces = ctx.queue.run("faces-detect", lambda control: ctx.faces.detect(image, order))
    except ValueError as exc:
        raise UserError(user_message(exc)) from exc
    rows = [[i, round(f.score, 3), f.age if f.age is not None else "", f.gender or "",
             ", ".join(str(round(v)) for v in f.box)] for i, f in enumerate(faces)]
    return draw_faces(image, faces), rows


def swap_image(ctx: AtelierContext, source: Optional[Image.Image], face_model: str, target: Optional[Image.Image],
               source_index: int, target_indices: str, method: str, reference: Optional[Image.Image],
               threshold: float, gender: str, erosion: float, blur: float, opacity: float, blend: str,
               restore: str, restore_weight: float, order: str = "left-right",
               selector: str = "indices") -> tuple[Image.Image, str]:
    """Swap, save under outputs/faces and return (image, info); ``selector``: indices / many / one / reference."""
    if notice_needed(ctx):
        raise UserError("Read and acknowledge the responsible-use notice above first.")
    if target is None:
        raise UserError("Upload a target image.")
    use_model = face_model and face_model != NO_FACE_MODEL
    if source is None and not use_model and ctx.faces.needs_source(method):
        raise UserError("Upload a source face image or pick a saved face model (a trained model method needs "
                        "neither).")
    try:
        src = ctx.faces.load_face_model(face_model) if use_model and ctx.faces.needs_source(method) else source
        mask = MaskOptions(erosion=erosion, blur=blur, opacity=opacity)
        targets = selected_targets(selector, parse_indices(target_indices) if selector == "indices" else [0],
                                   reference is not None)
        result = ctx.queue.run("faces-swap", lambda control: ctx.faces.swap(
            src, target, int(source_index), targets, method, reference=reference, save=True, order=order,
            threshold=threshold or None, gender=gender if gender in ("M", "F") else None, mask=mask, blend=blend,
            restore=restore if restore and restore != NO_FACE_MODEL else None, restore_weight=restore_weight))
    except ValueError as exc:
        raise UserError(user_message(exc)) from exc
    return result.image, result.info


def save_face_model(ctx: AtelierContext, name: str, images: list[Image.Image]) -> str:
    """Blend the first face of each image into a named face model; returns a status line."""
    if not images:
        raise UserError("Add one or more images of the person.")
    try:
        path = ctx.faces.save_face_model(name or "", images)
    except ValueError as exc:
        raise UserError(user_message(exc)) from exc
    return f"Saved face model {path.stem} ({len(images)} image{'s' if len(images) != 1 else ''}) to {path}"


def face_model_choices(ctx: AtelierContext) -> list[str]:
    return [NO_FACE_MODEL, *ctx.faces.face_model_names()]


def restorer_choices(ctx: AtelierContext) -> list[str]:
    return [NO_FACE_MODEL, *ctx.faces.layout.restorers()]
