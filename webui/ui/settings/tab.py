"""Settings tab: persisted options in <data-dir>/config.json, grouped, with Apply and Restore
defaults. Each field's control follows its type in ``pipelines.settings.Settings``."""

from __future__ import annotations

import typing
from typing import Any

import gradio as gr
from annotated_types import Ge, Le

from pipelines.context import AtelierContext
from pipelines.diffusion import samplers
from pipelines.settings import Settings
from webui.ui.settings import actions as settings_actions
from webui.ui.common import user_error

# Settings fields with a fixed list of choices that the Settings model types as plain strings
_CHOICES = {
    "default_sampler": lambda: [s["name"] for s in samplers.list_samplers()],
    "default_scheduler": lambda: [s["label"] for s in samplers.list_schedulers()],
}


def setting_control(key: str, value: Any) -> gr.components.Component:
    """A Checkbox, Radio, Dropdown, Slider or Textbox for one Settings field."""
    info = Settings.model_fields[key]
    label, elem_id = settings_actions.LABELS.get(key, key), f"setting_{key}"
    if key in _CHOICES:
        return gr.Dropdown(_CHOICES[key](), value=value, label=label, elem_id=elem_id)
    if info.annotation is bool:
        return gr.Checkbox(value, label=label, elem_id=elem_id)
    if typing.get_origin(info.annotation) is typing.Literal:
        return gr.Radio(list(typing.get_args(info.annotation)), value=value, label=label, elem_id=elem_id)
    if info.annotation in (int, float):
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
        if info.annotation is int and low is not None and high is not None:
            return gr.Slider(low, high, value=value, step=1, label=label, elem_id=elem_id)
        return gr.Number(value, minimum=low, maximum=high, label=label, elem_id=elem_id)
    return gr.Textbox(value, label=label, placeholder=info.description or "", elem_id=elem_id)


def settings_tab(ctx: AtelierContext, quick: dict[str, gr.components.Component]) -> None:
    """Build the tab; "Restore defaults" also resets the quick-settings bar's ``quick`` controls."""
    controls: list[gr.components.Component] = []
    values = dict(zip(settings_actions.TAB_KEYS, settings_actions.tab_values(ctx)))
    for title, keys in settings_actions.GROUPS.items():
        with gr.Accordion(title, open=True):
            for key in keys:
                controls.append(setting_control(key, values[key]))
    with gr.Row():
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_apply")
        restore = gr.Button("Restore defaults", elem_id="settings_restore_defaults")
    status = gr.Markdown(elem_id="settings_status")

    def apply_fn(*new_values: Any) -> str:
        with user_error():
            return settings_actions.apply_tab(ctx, dict(zip(settings_actions.TAB_KEYS, new_values)))

    def restore_fn() -> list[Any]:
        settings = settings_actions.restore_defaults(ctx)
        return [*settings_actions.tab_values(ctx), settings.sd_vae, settings.CLIP_stop_at_last_layers,
                "Defaults restored (the loaded checkpoint stays)."]

    apply.click(apply_fn, controls, status, api_name="settings_apply")
    restore.click(restore_fn, None, [*controls, quick["sd_vae"], quick["CLIP_stop_at_last_layers"], status],
                  api_name="settings_restore_defaults")
