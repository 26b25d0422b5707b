"""What the Models tab's controls do, as plain functions (no Gradio) that tests call directly.

A card click uses the same engine paths as the rest of the UI: a checkpoint card goes through
the quick checkpoint dropdown's action, a VAE card through the job queue like ``/options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pipelines.context import AtelierContext
from pipelines.models.download import (
    DOWNLOAD_KINDS,
    DownloadError,
    DownloadRequest,
    DownloadState,
    DownloadTask,
    download_kind,
)
from pipelines.models.library import ModelCard, ModelKind
from pipelines.models.training_metadata import read_training_metadata
from webui.ui.models import cards as model_cards
from webui.errors import UserError, user_message
from webui.ui.generation.actions import select_checkpoint

KIND_TABS: dict[ModelKind, str] = {ModelKind.CHECKPOINT: "Checkpoints", ModelKind.LORA: "LoRA",
                                   ModelKind.VAE: "VAE", ModelKind.EMBEDDING: "Embeddings"}
_FOLDERS = {ModelKind.CHECKPOINT: "Checkpoint", ModelKind.LORA: "LoRA", ModelKind.VAE: "VAE",
            ModelKind.EMBEDDING: "Embedding"}


@dataclass
class CardOutcome:
    """What a card click changes on the page (None: leave that control alone)."""

    details: str
    prompt: Optional[str] = None
    checkpoint: Optional[str] = None
    message: str = ""


def cards_html(ctx: AtelierContext, kind: ModelKind, query: str = "") -> str:
    """The grid of one kind's cards, filtered by the search box."""
    everything = ctx.library.cards(kind)
    shown = [card for card in everything if card.matches(query)]
    folder = ctx.library.models_dir / download_kind(_FOLDERS[kind]).folder
    return model_cards.cards_html(shown, ctx.library.models_dir, len(everything), KIND_TABS[kind], folder)


def all_cards_html(ctx: AtelierContext, query: str = "") -> list[str]:
    """Every grid, in :data:`KIND_TABS` order."""
    return [cards_html(ctx, kind, query) for kind in KIND_TABS]


def refresh(ctx: AtelierContext) -> None:
    """Rescan every models folder; new files are hashed in the background."""
    ctx.library.refresh()


def hashing_pending(ctx: AtelierContext) -> int:
    return ctx.library.hasher.pending


def details(ctx: AtelierContext, card: ModelCard, note: str = "") -> str:
    """The details panel, with the file's training metadata when it is a .safetensors."""
    try:
        summary = read_training_metadata(card.path)
    except Exception as exc:  # a damaged header: show the file anyway, with the reason
        summary, note = None, (note + " " if note else "") + f"(metadata unreadable: {user_message(exc)})"
    return model_cards.details_html(card, ctx.library.models_dir, summary, note)


def insert_into_prompt(prompt: str, text: str) -> str:
    """``prompt`` with ``text`` appended (comma-separated); unchanged when it is already there."""
    prompt = prompt or ""
    if text in prompt:
        return prompt
    stripped = prompt.rstrip()
    if not stripped:
        return text
    separator = " " if stripped.endswith(",") else ", "
    return f"{stripped}{separator}{text}"


def select_vae(ctx: AtelierContext, name: str) -> str:
    """Use VAE ``name`` from now on and save it as the ``sd_vae`` setting (as ``/options`` does)."""
    try:
        choice = ctx.manager.check_vae(name)
        ctx.queue.run("load-vae", lambda control: ctx.manager.select_vae(choice))
    except Exception as exc:
        raise UserError(user_message(exc)) from exc
    ctx.settings_store.update({"sd_vae": choice})
    return f"VAE set to {choice}."


def use_card(ctx: AtelierContext, key: str, prompt: str) -> CardOutcome:
    """A click on a card: LoRA / embedding go into the txt2img prompt, a checkpoint or VAE is selected."""
    try:
        card = ctx.library.card(key)
    except LookupError as exc:
        raise UserError(str(exc)) from exc
    if card.error:
        raise UserError(f"{card.name} cannot be used: {card.error}")
    if card.prompt_text is not None:
        new_prompt = insert_into_prompt(prompt, card.prompt_text)
        note = (f"Added {card.prompt_text} to the txt2img prompt." if new_prompt != (prompt or "")
                else f"{card.prompt_text} is already in the txt2img prompt.")
        return CardOutcome(details(ctx, card, note), prompt=new_prompt, message=note)
    if card.kind is ModelKind.CHECKPOINT:
        message = select_checkpoint(ctx, card.alias)
        return CardOutcome(details(ctx, card, message), checkpoint=ctx.manager.current.info.title, message=message)
    message = select_vae(ctx, card.name)
    return CardOutcome(details(ctx, card, message), message=message)


# ------------------------------------------------------------------------------------ downloads


def download_kinds() -> list[str]:
    return list(DOWNLOAD_KINDS)


def start_download(ctx: AtelierContext, url: str, kind: str, filename: str = "", sha256: str = "") -> DownloadTask:
    """Check the form and start the download in the background (bad input: UserError now)."""
    try:
        return ctx.downloads.start(DownloadRequest(url=url or "", kind=kind or "", filename=filename or "",
                                                   sha256=sha256 or ""))
    except DownloadError as exc:
        raise UserError(str(exc)) from exc


def download_status(task: DownloadTask) -> str:
    """One line for the page: bytes so far, or how it ended."""
    done_mb = task.done_bytes / (1 << 20)
    if task.state is DownloadState.RUNNING:
        total = f" of {task.total_bytes / (1 << 20):.1f} MB" if task.total_bytes else " MB"
        resumed = f" (resumed at {task.resumed_from / (1 << 20):.1f} MB)" if task.resumed_from else ""
        return f"Downloading {task.path.name if task.path else task.request.url}: {done_mb:.1f}{total}{resumed}"
    if task.state is DownloadState.DONE:
        return f"Downloaded {task.path} ({done_mb:.1f} MB); it is listed in its tab now."
    return f"Download {task.state.value}: {task.error}"
