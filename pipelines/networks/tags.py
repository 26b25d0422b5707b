"""Extra-network tags in prompts: ``<lora:name:w>``, ``<lora:name:te:unet>``, ``<lyco:…>``.

A1111 semantics (``modules/extra_networks.py``): every ``<kind:args>`` tag is removed from the
text that is encoded, while the saved prompt (infotext) keeps it. Arguments are split on ``:``;
``key=value`` arguments are named, the rest positional. For LoRA the first positional is the
name, the second the text-encoder multiplier (default 1), the third the UNet multiplier
(default: the text-encoder one), the fourth ``dyn``; ``te=``, ``unet=``, ``dyn=`` override them.
``lyco`` is an alias of ``lora``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

EXTRA_NETWORK_RE = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")


@dataclass(frozen=True)
class ExtraNetworkTag:
    """One ``<kind:arg:arg…>`` tag, split like A1111's ``ExtraNetworkParams``."""

    kind: str
    items: tuple[str, ...]
    text: str

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(item for item in self.items if len(item.split("=", 2)) != 2)

    @property
    def named(self) -> dict[str, str]:
        parts = (item.split("=", 2) for item in self.items)
        return {p[0]: p[1] for p in parts if len(p) == 2}


@dataclass(frozen=True)
class NetworkRequest:
    """A LoRA asked for by a prompt: the name as written and its two multipliers."""

    name: str
    te_multiplier: float = 1.0
    unet_multiplier: float = 1.0
    dyn_dim: Optional[int] = None

    @property
    def is_zero(self) -> bool:
        """True when the LoRA cannot change anything (both multipliers 0)."""
        return self.te_multiplier == 0 and self.unet_multiplier == 0


@dataclass
class PromptNetworks:
    """A prompt with its tags removed, the LoRA requests in it and what could not be parsed."""

    prompt: str
    requests: list[NetworkRequest] = field(default_factory=list)
    other_tags: list[ExtraNetworkTag] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_extra_networks(prompt: str) -> tuple[str, list[ExtraNetworkTag]]:
    """Remove every extra-network tag from ``prompt``; return the rest and the tags in order."""
    tags: list[ExtraNetworkTag] = []

    def found(match: re.Match) -> str:
        tags.append(ExtraNetworkTag(match.group(1), tuple(match.group(2).split(":")), match.group(0)))
        return ""

    return EXTRA_NETWORK_RE.sub(found, prompt), tags


def strip_extra_networks(prompt: str) -> str:
    """The text that gets encoded: ``prompt`` without its extra-network tags."""
    return EXTRA_NETWORK_RE.sub("", prompt)


def lora_request(tag: ExtraNetworkTag) -> NetworkRequest:
    """A1111's reading of a ``lora``/``lyco`` tag; ``ValueError`` names the bad argument."""
    positional, named = tag.positional, tag.named
    if not positional or not positional[0]:
        raise ValueError(f"{tag.text}: no LoRA name")
    te = _number(named.get("te", positional[1] if len(positional) > 1 else 1.0), tag, "te")
    unet = _number(named.get("unet", positional[2] if len(positional) > 2 else te), tag, "unet")
    dyn_text = named.get("dyn", positional[3] if len(positional) > 3 else None)
    dyn = int(_number(dyn_text, tag, "dyn")) if dyn_text is not None else None
    return NetworkRequest(positional[0], te, unet, dyn)


class NetworkWeightError(ValueError):
    """A tag's multiplier is ``nan`` / ``inf``: refused outright, since it would make every
    image NaN (other malformed tags are only warnings)."""


def _number(value: object, tag: ExtraNetworkTag, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{tag.text}: {what} multiplier {value!r} is not a number") from None
    if not math.isfinite(number):
        raise NetworkWeightError(f"{tag.text}: {what} multiplier {value!r} is not a finite number")
    return number


def lora_requests(tags: Sequence[ExtraNetworkTag]) -> tuple[list[NetworkRequest], list[str]]:
    """The LoRA requests among ``tags``; malformed tags become warnings, non-finite
    multipliers :class:`NetworkWeightError`."""
    requests: list[NetworkRequest] = []
    warnings: list[str] = []
    for tag in tags:
        if tag.kind not in LORA_KINDS:
            continue
        try:
            requests.append(lora_request(tag))
        except NetworkWeightError:
            raise
        except ValueError as exc:
            warnings.append(str(exc))
    return requests, warnings


def parse_prompt_networks(prompt: str) -> PromptNetworks:
    """Split ``prompt`` into encoded text, LoRA requests and the other extra-network tags."""
    text, tags = parse_extra_networks(prompt)
    requests, warnings = lora_requests(tags)
    others = [tag for tag in tags if tag.kind not in LORA_KINDS]
    return PromptNetworks(text, requests, others, warnings)


def infotext_name(name: str) -> str:
    """A name as A1111 writes it into ``Lora hashes`` / ``TI hashes`` (no ``:`` or ``,``)."""
    return name.replace(":", "").replace(",", "")
