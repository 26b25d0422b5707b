"""The training recipe kohya's sd-scripts (and the ``modelspec`` standard) store in a
``.safetensors`` header, reduced to what a person choosing a model wants to see.

Only the JSON header is read, never the tensors, so this is cheap for any file size.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from pipelines.models.identify import SAFETENSORS_SUFFIXES, read_safetensors_header

TOP_TAGS = 20
# Shown label → header keys, first present wins (kohya renamed some keys over the years).
_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Base model", ("ss_sd_model_name", "modelspec.architecture")),
    ("Base model version", ("ss_base_model_version",)),
    ("Resolution", ("ss_resolution", "modelspec.resolution")),
    ("Epochs", ("ss_epoch", "ss_num_epochs")),
    ("Steps", ("ss_steps", "ss_max_train_steps")),
    ("Training images", ("ss_num_train_images",)),
    ("Network module", ("ss_network_module",)),
    ("Network dim", ("ss_network_dim",)),
    ("Network alpha", ("ss_network_alpha",)),
    ("Learning rate", ("ss_learning_rate",)),
    ("Clip skip", ("ss_clip_skip",)),
    ("Output name", ("ss_output_name", "modelspec.title")),
    ("Trained", ("ss_training_finished_at", "modelspec.date")),
    ("Comment", ("ss_training_comment", "modelspec.description")),
)
_EMPTY = {"", "None", "null"}


@dataclass
class TrainingSummary:
    """Labelled fields (in display order), the most frequent training tags, and the raw header."""

    fields: dict[str, str] = field(default_factory=dict)
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.raw)


def summarize(metadata: Mapping[str, str], top: int = TOP_TAGS) -> TrainingSummary:
    """The readable summary of a header's ``__metadata__`` (strings, as safetensors stores them)."""
    raw = {str(k): str(v) for k, v in metadata.items()}
    fields = {}
    for label, keys in _FIELDS:
        value = next((raw[k] for k in keys if raw.get(k, "").strip() not in _EMPTY), None)
        if value is not None:
            fields[label] = value
    return TrainingSummary(fields=fields, top_tags=top_tags(raw, top), raw=raw)


def top_tags(metadata: Mapping[str, str], top: int = TOP_TAGS) -> list[tuple[str, int]]:
    """kohya's ``ss_tag_frequency`` (``{dataset dir: {tag: count}}``) summed over directories."""
    try:
        frequency = json.loads(metadata.get("ss_tag_frequency") or "{}")
    except ValueError:
        return []
    counts: Counter[str] = Counter()
    if isinstance(frequency, dict):
        for tags in frequency.values():
            if isinstance(tags, dict):
                counts.update({str(tag).strip(): int(n) for tag, n in tags.items() if isinstance(n, (int, float))})
    return counts.most_common(top)


def read_training_metadata(path: Path) -> Optional[TrainingSummary]:
    """The summary of a ``.safetensors`` file's metadata; None for other formats or no metadata."""
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return None
    metadata = read_safetensors_header(path).get("__metadata__") or {}
    return summarize(metadata) if metadata else None
