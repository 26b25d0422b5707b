"""Refusing a prompt before it is queued: text that is not Unicode, weights that are not numbers.

The encoder would reject them too, but only once the job runs, after the request waited its
turn in the queue; these checks answer at once, with the same message.
"""

from __future__ import annotations

from pipelines.networks.tags import parse_prompt_networks, strip_extra_networks
from pipelines.prompts.parser import parse_prompt_attention


class PromptTextError(ValueError):
    """The text holds a lone surrogate (e.g. ``"\\ud800"`` in JSON): it is not Unicode text and
    cannot be encoded, written into a PNG or echoed back."""


def check_unicode(field: str, text: str) -> None:
    """``text`` must be encodable as UTF-8; the message names ``field`` and the position."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PromptTextError(f"{field}: character {exc.object[exc.start]!r} at position {exc.start} is a lone "
                              "surrogate, not valid Unicode text") from None


def check_prompt(field: str, text: str) -> None:
    """Unicode text, LoRA multipliers and ``(text:weight)`` weights that are finite numbers."""
    check_unicode(field, text)
    try:
        parse_prompt_networks(text)
        parse_prompt_attention(strip_extra_networks(text))
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None
