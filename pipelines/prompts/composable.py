"""A1111's ``AND`` (composable diffusion) in positive prompts.

A1111 splits a positive prompt at the word ``AND``; each part may end in ``:weight`` and is
denoised separately, the guided result being ``uncond + Σ wᵢ·cfg·(condᵢ − uncond)``.  That
needs one UNet pass per part, which diffusers' pipelines cannot do, so Atelier accepts a
prompt with one part only and rejects several with a clear message
(:class:`ComposablePromptError`).

A single part still follows A1111: a trailing ``:w`` (``"a cat :1.5"``) is its composable
weight, which for one part equals multiplying the CFG scale by ``w``; the text is the part
without the weight and trailing spaces.  Negative prompts are never split (A1111 neither).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AND = re.compile(r"\bAND\b")
_TRAILING_WEIGHT = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


class ComposablePromptError(ValueError):
    """A positive prompt with several ``AND`` parts, which Atelier cannot run."""


@dataclass(frozen=True)
class ComposablePrompt:
    """The text to encode and the factor A1111 applies to the CFG scale for it."""

    text: str
    weight: float = 1.0


def split_composable(prompt: str) -> list[tuple[str, float]]:
    """``prompt`` split at ``AND`` into ``(text, weight)`` parts, exactly as A1111 does."""
    parts: list[tuple[str, float]] = []
    for sub in _AND.split(prompt):
        match = _TRAILING_WEIGHT.search(sub)
        if match is None:  # cannot happen with this pattern; kept for safety
            parts.append((sub, 1.0))
            continue
        text, weight = match.groups()
        parts.append((text, float(weight) if weight is not None else 1.0))
    return parts


def single_prompt(prompt: str) -> ComposablePrompt:
    """The one part of a positive prompt; raises :class:`ComposablePromptError` for ``AND``."""
    parts = split_composable(prompt)
    if len(parts) > 1:
        raise ComposablePromptError(
            f"the prompt has {len(parts)} parts joined by AND (A1111's composable diffusion), which "
            "Atelier does not support; write 'and' in lower case to use it as a word, or remove it"
        )
    text, weight = parts[0]
    return ComposablePrompt(text, weight)


__all__ = ["ComposablePrompt", "ComposablePromptError", "single_prompt", "split_composable"]
