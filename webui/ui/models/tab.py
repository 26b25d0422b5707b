"""Models tab: cards for checkpoints, LoRA, VAE and embeddings, details, search, refresh, download.

Layout and wiring only; what the controls do is in :mod:`webui.ui.models.actions`.
"""

from __future__ import annotations

import html
from typing import Any, Iterator, Optional

import gradio as gr

from pipelines.context import AtelierContext
from pipelines.models.download import DownloadState
from webui.ui.models import cards as model_cards
from webui.ui.models import actions as models
from webui.ui.generation import actions
from webui.ui.common import user_error

TXT2IMG_PROMPT_ID = "txt2img_prompt"
HASH_POLL_S = 2.0
DOWNLOAD_POLL_S = 0.5


def _component(blocks: gr.Blocks, elem_id: str) -> Optional[gr.components.Component]:
    """A component built earlier in ``blocks`` by its elem_id (the txt2img prompt box)."""
    return next((b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == elem_id), None)


def _checkpoint_choices(ctx: AtelierContext) -> tuple[Any, str]:
    """The quick checkpoint dropdown after a rescan, and the empty-folder hint when there is none."""
    titles = actions.checkpoint_titles(ctx)
    current = ctx.manager.current.info.title if ctx.manager.current else (titles[0] if titles else None)
    return gr.update(choices=titles, value=current), actions.checkpoint_hint(ctx)


def models_tab(ctx: AtelierContext, quick: dict[str, gr.components.Component], demo: gr.Blocks) -> None:
    """Build the tab. Refresh (and the quick bar's 🔄, ``quick["refresh"]``) rescans the folders
    and updates the cards, the quick bar's checkpoint dropdown and its banner (``quick["status"]``);
    the cards are read again whenever a page opens."""
    checkpoint = quick["sd_model_checkpoint"]
    prompt = _component(demo, TXT2IMG_PROMPT_ID) or gr.State("")  # a State keeps the tab usable alone
    with gr.Row():
        search = gr.Textbox(label="Search", placeholder="name, architecture, hash…", scale=4, elem_id="models_search")
        refresh = gr.Button("Refresh", scale=0, min_width=100, elem_id="models_refresh")
    hint = gr.Markdown(_checkpoint_choices(ctx)[1])
    notice = gr.Markdown(elem_id="models_notice")
    with gr.Row():
        with gr.Column(scale=3):
            grids = []
            for kind, title in models.KIND_TABS.items():
                with gr.Tab(title, id=f"models_{kind.value}"):
                    grids.append(gr.HTML(models.cards_html(ctx, kind), css_template=model_cards.CARDS_CSS,
                                         js_on_load=model_cards.CARDS_JS, elem_id=f"models_{kind.value}_cards"))
            with gr.Tab("Download", id="models_download"):
                download = _download_controls()
        with gr.Column(scale=2):
            details = gr.HTML("<p>Click a card to see its details and use it.</p>", elem_id="models_details",
                              css_template=model_cards.DETAILS_CSS)
    timer = gr.Timer(HASH_POLL_S, active=models.hashing_pending(ctx) > 0)

    def render(query: str) -> list[str]:
        return models.all_cards_html(ctx, query)

    def poll_hashes(query: str) -> list[Any]:
        """Re-render while the background hasher works, so "hashing…" turns into hashes."""
        return [*render(query), gr.Timer(active=models.hashing_pending(ctx) > 0)]

    def refresh_fn(query: str) -> list[Any]:
        models.refresh(ctx)
        dropdown, message = _checkpoint_choices(ctx)
        return [*render(query), dropdown, message, message, gr.Timer(active=models.hashing_pending(ctx) > 0)]

    def click_fn(text: str, evt: gr.EventData) -> list[Any]:
        with user_error():
            outcome = models.use_card(ctx, getattr(evt, "card", ""), text)
        # escaped: the Markdown would make a LoRA tag like <lora:name:1> a link
        return [outcome.details, gr.update(value=outcome.checkpoint) if outcome.checkpoint else gr.update(),
                html.escape(outcome.message), outcome.prompt if outcome.prompt is not None else gr.update()]

    search.change(render, search, grids, queue=False, show_progress="hidden")
    timer.tick(poll_hashes, search, [*grids, timer], show_progress="hidden")
    refresh_outputs = [*grids, checkpoint, hint, quick.get("status") or gr.State(), timer]
    refresh.click(refresh_fn, search, refresh_outputs, show_progress_on=grids)
    if "refresh" in quick:
        quick["refresh"].click(refresh_fn, search, refresh_outputs, show_progress_on=grids,
                               api_name="quick_checkpoint_refresh")
    demo.load(lambda query: [*poll_hashes(query), actions.checkpoint_hint(ctx)], search, [*grids, timer, hint],
              queue=False, show_progress="hidden")
    for grid in grids:
        grid.click(click_fn, prompt, [details, checkpoint, notice, prompt], show_progress_on=details)

    def download_fn(url: str, kind: str, filename: str, sha256: str, query: str) -> Iterator[list[Any]]:
        """Poll the background download and redraw its progress bar until it ends."""
        with user_error():
            task = models.start_download(ctx, url, kind, filename, sha256)
        unchanged = [gr.update()] * (len(grids) + 1)
        yield [task.id, model_cards.progress_html(task.fraction, models.download_status(task)), *unchanged]
        while not task.finished.wait(DOWNLOAD_POLL_S):
            yield [task.id, model_cards.progress_html(task.fraction, models.download_status(task)), *unchanged]
        text = models.download_status(task)
        if task.state is not DownloadState.DONE:
            gr.Warning(text)
            yield [task.id, f"<p>{html.escape(text)}</p>", *unchanged]
            return
        gr.Info(f"Downloaded {task.path.name}")
        yield [task.id, f"<p>{html.escape(text)}</p>", *render(query), _checkpoint_choices(ctx)[0]]

    def cancel_fn(task_id: str) -> None:
        """Stop this session's download; its .part file stays, so Download resumes it."""
        task = ctx.downloads.get(task_id) if task_id else None
        if task is None or task.finished.is_set():
            gr.Info("No download is running.")
        else:
            task.cancel()

    download["start"].click(download_fn, [download["url"], download["kind"], download["filename"], download["sha256"],
                                          search], [download["task"], download["status"], *grids, checkpoint],
                            concurrency_limit=None, show_progress="hidden")
    download["cancel"].click(cancel_fn, download["task"], None, queue=False)


def _download_controls() -> dict[str, Any]:
    url = gr.Textbox(label="URL (http or https)", placeholder="https://…/model.safetensors", elem_id="models_dl_url")
    with gr.Row():
        kind = gr.Dropdown(models.download_kinds(), value=models.download_kinds()[0], label="Kind (decides the folder)",
                           elem_id="models_dl_kind")
        filename = gr.Textbox(label="File name (optional: from the server or the URL)", elem_id="models_dl_name")
        sha256 = gr.Textbox(label="sha256 (optional, verified)", elem_id="models_dl_sha256")
    with gr.Row():
        start = gr.Button("Download", variant="primary", elem_id="models_dl_start")
        cancel = gr.Button("Cancel", elem_id="models_dl_cancel")
    status = gr.HTML(elem_id="models_dl_status", css_template=model_cards.PROGRESS_CSS)
    return dict(url=url, kind=kind, filename=filename, sha256=sha256, start=start, cancel=cancel, status=status,
                task=gr.State(""))
