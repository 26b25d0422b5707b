"""Gradio controls for the generation fields, built from their schema entries
(:data:`pipelines.diffusion.fields.FIELDS`: label, range, step, engine default)."""

from __future__ import annotations

from typing import Iterable

import gradio as gr

from pipelines.diffusion.fields import BY_NAME, GenerationField


def field_control(spec: GenerationField, kind: str) -> gr.components.Component:
    """The control ``spec`` declares, with elem_id ``{kind}_{elem}`` (the field's name unless it says)."""
    control = spec.control
    if control is None or spec.label is None:
        raise ValueError(f"{spec.name} declares no UI control")
    elem_id = f"{kind}_{control.elem or spec.name}"
    if control.kind == "number":
        return gr.Number(value=spec.default, precision=0 if spec.type is int else None, label=spec.label,
                         elem_id=elem_id)
    return gr.Slider(control.minimum, control.maximum, value=spec.default, step=control.step, label=spec.label,
                     elem_id=elem_id)


def control(name: str, kind: str) -> gr.components.Component:
    """:func:`field_control` for the schema field ``name``."""
    return field_control(BY_NAME[name], kind)


def unplaced_controls(schema: Iterable[GenerationField], kind: str,
                      placed: Iterable[str]) -> list[GenerationField]:
    """The fields of ``kind``'s form with a control that the tab's layout does not place itself
    (a field added to the schema shows up in the form without a layout edit)."""
    scopes = ("both", "hires") if kind == "txt2img" else ("both", "img2img")
    taken = set(placed)
    return [spec for spec in schema if spec.control is not None and spec.scope in scopes and spec.name not in taken]
