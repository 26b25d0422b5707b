"""HTML for the Models tab: a grid of cards and the details panel of the selected one.

Plain strings (no Gradio), so tests read exactly what the page shows. Every value from a file
name or a model header is escaped; previews load lazily through the preview route, so a grid of
hundreds of cards costs one small HTML string.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import quote

from pipelines.models.library import ModelCard
from pipelines.models.previews import relative_to_root
from pipelines.models.training_metadata import TrainingSummary
from webui.api.previews import PREVIEW_ROUTE

HASHING = "hashing…"
NOT_HASHED = "not hashed"  # an unusable file is never hashed: its card says why instead
# Scoped to the gr.HTML component by Gradio (css_template).
CARDS_CSS = """
.model-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; }
.model-card { display: flex; flex-direction: column; text-align: left; padding: 0; cursor: pointer;
  border: 1px solid var(--border-color-primary); border-radius: 8px; overflow: hidden;
  background: var(--block-background-fill); color: inherit; font: inherit; }
.model-card:hover, .model-card:focus { border-color: var(--color-accent); }
.model-card img, .model-card .no-preview { width: 100%; aspect-ratio: 1; object-fit: cover; }
.model-card .no-preview { display: flex; align-items: center; justify-content: center; font-size: 1.6em;
  opacity: .35; background: var(--background-fill-secondary); }
.model-card .card-name { font-weight: 600; padding: 4px 6px 0; overflow-wrap: anywhere; }
.model-card .card-meta, .model-card .card-status { font-size: .8em; padding: 0 6px 4px; opacity: .8; }
.model-card.unusable { opacity: .6; }
.model-card.unusable .card-status { color: #b45309; opacity: 1; }
"""
DETAILS_CSS = """
.model-details img { max-width: 256px; border-radius: 8px; }
.model-details table { font-size: .9em; width: 100%; table-layout: fixed; }
.model-details td { overflow-wrap: anywhere; }
.model-details th { text-align: left; padding-right: 1em; }
"""
PROGRESS_CSS = ".download-progress progress { width: 100%; height: 1em; }"
# Event delegation: one listener survives every re-render of the grid.
CARDS_JS = """
element.addEventListener('click', (event) => {
  const card = event.target.closest('[data-card]');
  if (card) trigger('click', {card: card.dataset.card});
});
"""


def preview_url(card: ModelCard, models_dir: Path) -> Optional[str]:
    """The URL of a card's preview image (cache-busted by mtime), None when it has none in ``models/``."""
    if card.preview is None:
        return None
    relative = relative_to_root(card.preview, models_dir)
    if relative is None:
        return None
    return f"{PREVIEW_ROUTE}/{quote(relative)}?v={card.preview.stat().st_mtime_ns}"


def card_html(card: ModelCard, models_dir: Path) -> str:
    esc = html.escape
    url = preview_url(card, models_dir)
    image = (f'<img loading="lazy" src="{esc(url)}" alt="">' if url
             else f'<div class="no-preview">{esc(card.kind.value[:1].upper())}</div>')
    status = f'<div class="card-status">unusable: {esc(card.error)}</div>' if card.error else ""
    meta = f"{card.architecture} · {card.shorthash or (NOT_HASHED if card.error else HASHING)}"
    return (f'<button type="button" class="model-card{"" if card.usable else " unusable"}" '
            f'data-card="{esc(card.key)}" title="{esc(card.alias or card.name)}">{image}'
            f'<div class="card-name">{esc(card.name)}</div><div class="card-meta">{esc(meta)}</div>{status}</button>')


def cards_html(cards: Sequence[ModelCard], models_dir: Path, total: int, noun: str, folder: Path) -> str:
    """The grid, with a count line; an empty folder says where files go."""
    if not total:
        return f"<p>No {noun} yet. Put files in <code>{html.escape(str(folder))}</code> or download one, then Refresh.</p>"
    shown = f"{len(cards)} of {total}" if len(cards) != total else str(total)
    grid = "".join(card_html(card, models_dir) for card in cards)
    return f'<p class="model-count">{noun}: {shown}</p><div class="model-cards">{grid}</div>'


def details_html(card: ModelCard, models_dir: Path, summary: Optional[TrainingSummary], note: str = "") -> str:
    """Everything about one card: file facts, status, preview and the training metadata."""
    esc = html.escape
    url = preview_url(card, models_dir)
    rows = [("Kind", card.kind.value), ("Architecture", card.architecture), ("File", str(card.path)),
            ("Size", _size(card.path)), ("sha256", card.sha256 or (NOT_HASHED if card.error else HASHING)),
            ("Status", f"unusable: {card.error}" if card.error else "ok")]
    if card.alias and card.alias != card.name:
        rows.insert(1, ("Title" if card.kind.value == "checkpoint" else "Alias", card.alias))
    if summary:
        rows += list(summary.fields.items())
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    parts = [f"<h3>{esc(card.name)}</h3>"]
    if note:
        parts.append(f"<p>{esc(note)}</p>")
    if url:
        parts.append(f'<img src="{esc(url)}" alt="preview of {esc(card.name)}">')
    parts.append(f"<table>{table}</table>")
    if summary and summary.top_tags:
        tags = ", ".join(f"{esc(tag)} ({count})" for tag, count in summary.top_tags)
        parts.append(f"<p><b>Top training tags:</b> {tags}</p>")
    return f'<div class="model-details">{"".join(parts)}</div>'


def progress_html(fraction: Optional[float], text: str) -> str:
    """A progress bar (indeterminate while the size is unknown) over one line of status."""
    bar = f'<progress max="1" value="{fraction:.4f}"></progress>' if fraction is not None else "<progress></progress>"
    return f'<div class="download-progress">{bar}<p>{html.escape(text)}</p></div>'


def _size(path: Path) -> str:
    try:
        size = float(path.stat().st_size)
    except OSError:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"
