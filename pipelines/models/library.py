"""Every model file a person can pick (checkpoints, LoRA, VAE, embeddings) as one list of cards.

The catalogs each keep their own kind; this view joins them for browsing: name, architecture,
short hash (from the hash cache only; missing hashes are computed by a background thread),
status, preview image and what a click puts into a prompt. Building cards reads no tensors, so
it stays fast with hundreds of files.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from pipelines.models.architecture import Architecture, ModelFamily
from pipelines.models.background_hash import BackgroundHasher
from pipelines.models.catalog import CheckpointInfo, ModelCatalog
from pipelines.models.hashing import short_hash
from pipelines.models.previews import find_preview

if TYPE_CHECKING:  # torch-heavy modules, imported by the context anyway
    from pipelines.networks.embeddings import EmbeddingDatabase
    from pipelines.networks.lora import LoraCatalog

_EMBEDDING_FAMILIES = {
    (("text_encoder", 768),): ModelFamily.SD1,
    (("text_encoder", 1024),): ModelFamily.SD2,
    (("text_encoder", 768), ("text_encoder_2", 1280)): ModelFamily.SDXL,
}


class ModelKind(str, Enum):
    CHECKPOINT = "checkpoint"
    LORA = "lora"
    VAE = "vae"
    EMBEDDING = "embedding"


@dataclass(frozen=True)
class ModelCard:
    """One model file as the Models tab shows it."""

    kind: ModelKind
    name: str
    path: Path
    architecture: str
    sha256: Optional[str] = None
    error: Optional[str] = None
    preview: Optional[Path] = None
    alias: str = ""
    prompt_text: Optional[str] = None  # what a click inserts into the prompt (LoRA, embedding)

    @property
    def key(self) -> str:
        """Identifies the card in the page (kind and file)."""
        return f"{self.kind.value}:{self.path}"

    @property
    def shorthash(self) -> Optional[str]:
        return short_hash(self.sha256) if self.sha256 else None

    @property
    def usable(self) -> bool:
        return self.error is None

    def matches(self, query: str) -> bool:
        """Case-insensitive search over name, alias, architecture, hash and status."""
        words = (query or "").lower().split()
        text = " ".join([self.name, self.alias, self.architecture, self.sha256 or "", self.error or ""]).lower()
        return all(word in text for word in words)


def family_label(family: Optional[ModelFamily]) -> str:
    return Architecture(family).label if family is not None else "unknown base"


def embedding_family(widths: Mapping[str, int]) -> Optional[ModelFamily]:
    """The model family whose text encoders have these widths (component → width)."""
    return _EMBEDDING_FAMILIES.get(tuple(sorted(widths.items())))


class ModelLibrary:
    """Cards for every kind of model file, over the catalogs the context owns."""

    def __init__(self, catalog: ModelCatalog, loras: "LoraCatalog", embeddings: "EmbeddingDatabase",
                 hasher: BackgroundHasher) -> None:
        self.catalog, self.loras, self.embeddings, self.hasher = catalog, loras, embeddings, hasher
        catalog.hash_now = hasher.hash_first  # a model being loaded is hashed before the queue

    @property
    def models_dir(self) -> Path:
        return self.catalog.models_dir

    def refresh(self) -> None:
        """Rescan every folder (no hashing here), then hash new files in the background."""
        self.catalog.refresh(hash_missing=False)
        self.loras.refresh()
        self.embeddings.refresh()
        self.hash_missing()

    def hash_missing(self) -> None:
        """Queue every file without a cached sha256; checkpoints get theirs filled in when done."""
        for info in self.catalog.checkpoints:
            if info.sha256 is None and info.error is None:
                self.hasher.submit(info.path, _setter(info))
        self.hasher.submit_all(info.path for info in self.loras.items if info.error is None)
        self.hasher.submit_all(vae.path for vae in self.catalog.usable_vaes())

    def cards(self, kind: ModelKind) -> list[ModelCard]:
        """The cards of one kind (filter with :meth:`ModelCard.matches`)."""
        build = {ModelKind.CHECKPOINT: self._checkpoints, ModelKind.LORA: self._loras,
                 ModelKind.VAE: self._vaes, ModelKind.EMBEDDING: self._embeddings}[ModelKind(kind)]
        return build()

    def card(self, key: str) -> ModelCard:
        """The card with this key; LookupError when the file is gone (refresh the page)."""
        kind, _, _ = key.partition(":")
        try:
            cards = self.cards(ModelKind(kind))
        except ValueError:
            raise LookupError(f"unknown model card {key!r}") from None
        for card in cards:
            if card.key == key:
                return card
        raise LookupError(f"{key.partition(':')[2]} is no longer in the models folder; press Refresh")

    # -- one builder per kind --------------------------------------------------------------
    def _cached(self, path: Path) -> Optional[str]:
        return self.catalog.hash_cache.cached(path)

    def _checkpoints(self) -> list[ModelCard]:
        return [
            ModelCard(ModelKind.CHECKPOINT, info.name, info.path,
                      info.architecture.label if info.architecture else "-",
                      info.sha256 or self._cached(info.path), info.error, find_preview(info.path),
                      alias=info.title)
            for info in self.catalog.checkpoints
        ]

    def _loras(self) -> list[ModelCard]:
        return [
            ModelCard(ModelKind.LORA, info.name, info.path, f"{family_label(info.family)} LoRA",
                      self._cached(info.path), info.error, find_preview(info.path), alias=info.alias,
                      prompt_text=f"<lora:{info.name}:1>")
            for info in self.loras.items
        ]

    def _vaes(self) -> list[ModelCard]:
        return [ModelCard(ModelKind.VAE, vae.name, vae.path, vae.label, self._cached(vae.path), vae.error,
                          find_preview(vae.path))
                for vae in self.catalog.vaes]

    def _embeddings(self) -> list[ModelCard]:
        cards = []
        for name, emb in sorted(self.embeddings.embeddings.items(), key=lambda item: item[0].lower()):
            family = embedding_family(emb.widths)
            label = f"{family_label(family)} embedding, {emb.num_vectors} vector{'s' if emb.num_vectors != 1 else ''}"
            cards.append(ModelCard(ModelKind.EMBEDDING, name, emb.path, label, emb.sha256 or None, None,
                                   find_preview(emb.path), prompt_text=name))
        for path, error in sorted(self.embeddings.errors.items()):
            cards.append(ModelCard(ModelKind.EMBEDDING, Path(path).stem, Path(path), "-", None, error))
        return cards


def _setter(info: CheckpointInfo) -> Callable[[str], None]:
    """A callback that stores a background-computed hash on the checkpoint's catalog entry."""

    def store(sha256: str) -> None:
        info.sha256 = sha256

    return store
