"""The send-to buttons: a picture (and its generation parameters) from one tab into another.

Wired in ``build_ui`` once every tab exists; the values come from ``gallery_actions`` and
``ui_actions.parse_prompt_box``, the same path as "Read generation parameters".
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from pipelines.context import AtelierContext
from webui.ui.generation import gallery as gallery_actions
from webui.ui.generation import actions
from webui.errors import UserError
from webui.ui.common import user_error
from webui.ui.generation.tab import GenerationTab


def wire_gallery_sends(source: GenerationTab, img2img: GenerationTab, faces: dict[str, Any], tabs: gr.Tabs) -> None:
    """Send to img2img / inpaint (image + parameters) and to Faces (image as the target)."""
    kind = source.kind
    editor = img2img.fields["inpaint_editor"]

    def picked(shown: list, index: Optional[int]) -> tuple[Any, dict[str, Any]]:
        with user_error():
            return gallery_actions.send_values(gallery_actions.selected(shown, index))

    def to_mode(mode: str, target: gr.components.Component):
        def send(shown: list, index: Optional[int]) -> list[Any]:
            image, values = picked(shown, index)
            value = {"background": image, "layers": [], "composite": image} if target is editor else image
            return [value, mode, gr.Tabs(selected="img2img"), gr.Tabs(selected=mode),
                    gr.update(visible=target is editor), *img2img.form_updates(values, values.get("prompt", ""))]
        return send

    for mode, target in (("img2img", img2img.fields["init_image"]), ("inpaint", editor)):
        source.buttons[mode].click(
            to_mode(mode, target), [source.entries, source.selected],
            [target, img2img.mode, tabs, img2img.mode_tabs, img2img.accordions["inpaint"], *img2img.form],
            queue=False, api_name=f"{kind}_send_to_{mode}")

    def to_faces(shown: list, index: Optional[int]) -> list[Any]:
        image, _ = picked(shown, index)
        return [image, gr.Tabs(selected="faces")]

    source.buttons["faces"].click(to_faces, [source.entries, source.selected], [faces["target_image"], tabs],
                                  queue=False, api_name=f"{kind}_send_to_faces")


def wire_read_params(ctx: AtelierContext, tab: GenerationTab, quick: dict[str, gr.components.Component]) -> None:
    """↙ Read generation parameters: the form's fields, plus what A1111 applies outside the form
    (Clip skip and Model, into the quick-settings bar); the sections the infotext turns on open,
    and what cannot be applied (a checkpoint that is not here) is said."""
    bar = [quick["sd_model_checkpoint"], quick["CLIP_stop_at_last_layers"], quick["status"]]
    sections = [(name, accordion) for name, accordion in tab.accordions.items() if name != "inpaint"]

    def read_fn(text: str) -> list[Any]:
        values = actions.parse_prompt_box(text)
        if values is None:
            gr.Warning("The prompt box holds no generation parameters to read.")
            return [*tab.form_updates(None, text), *(gr.update() for _ in bar + sections)]
        with user_error():
            applied = actions.apply_infotext_settings(ctx, values)
        for note in applied.notes:
            gr.Warning(note)
        return [*tab.form_updates(values, text),
                gr.update(value=applied.checkpoint) if applied.checkpoint else gr.update(),
                applied.clip_skip if applied.clip_skip is not None else gr.update(),
                " ".join(applied.done) if applied.done else gr.update(),
                *(gr.update(open=True) if values.get(name) else gr.update() for name, _ in sections)]

    tab.read_params.click(read_fn, tab.prompt, [*tab.form, *bar, *(accordion for _, accordion in sections)],
                          api_name=f"{tab.kind}_read_params")


def wire_png_info_sends(png: dict[str, Any], txt2img: GenerationTab, img2img: GenerationTab, tabs: gr.Tabs) -> None:
    """PNG Info → txt2img / img2img: every field as "Read generation parameters" fills it."""

    def to_txt2img(text: str) -> list[Any]:
        return [gr.Tabs(selected="txt2img"), *txt2img.form_updates(_values(text), text or "")]

    def to_img2img(image: Any, text: str) -> list[Any]:
        return [image, "img2img", gr.Tabs(selected="img2img"), gr.Tabs(selected="img2img"), gr.update(visible=False),
                *img2img.form_updates(_values(text), text or "")]

    png["txt2img"].click(to_txt2img, png["text"], [tabs, *txt2img.form], queue=False, api_name="png_info_to_txt2img")
    png["img2img"].click(to_img2img, [png["image"], png["text"]],
                         [img2img.fields["init_image"], img2img.mode, tabs, img2img.mode_tabs,
                          img2img.accordions["inpaint"], *img2img.form],
                         queue=False, api_name="png_info_to_img2img")


def _values(text: str) -> dict[str, Any]:
    with user_error():
        values = actions.parse_prompt_box(text or "")
        if values is None:
            raise UserError("This image carries no generation parameters to send.")
    return values
