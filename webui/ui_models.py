"""Models tab: what is in models/, with architecture, hash and status."""

from __future__ import annotations

import gradio as gr

from pipelines.context import AtelierContext
from webui import ui_actions as actions


def models_tab(ctx: AtelierContext, checkpoint: gr.Dropdown) -> None:
    hint = gr.Markdown(actions.empty_folder_hint(ctx.catalog.models_dir) if not ctx.catalog.usable_checkpoints() else "")
    table = gr.Dataframe(headers=["File", "Architecture", "Hash", "Status"], value=actions.model_rows(ctx),
                         interactive=False, elem_id="models_table")
    refresh = gr.Button("Refresh")

    def refresh_fn() -> tuple:
        ctx.catalog.refresh(hash_missing=True)
        titles = actions.checkpoint_titles(ctx)
        current = ctx.manager.current.info.title if ctx.manager.current else (titles[0] if titles else None)
        message = "" if titles else actions.empty_folder_hint(ctx.catalog.models_dir)
        return actions.model_rows(ctx), gr.update(choices=titles, value=current), message

    refresh.click(refresh_fn, None, [table, checkpoint, hint])
