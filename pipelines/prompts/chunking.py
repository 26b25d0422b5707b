"""Weighted fragments → CLIP token chunks of 77 (BOS + 75 + EOS), A1111's way.

CLIP sees 77 positions, so A1111 cuts a long prompt into 75-token chunks, encodes each on
its own and concatenates the results (150 tokens → 2 chunks → 154 embeddings).  Details that
change the tokens, all kept here:

* every fragment of :func:`parse_prompt_attention` is tokenized alone, without BOS/EOS, and
  each token carries its fragment's weight;
* ``['BREAK', -1]`` closes the current chunk (padding it), so the next text starts a new one;
* when a chunk is full and a comma came at most ``comma_padding_backtrack`` (A1111's
  "Prompt word wrap length limit", default 20) tokens earlier, the words after that comma move
  to the next chunk instead of being cut;
* a chunk is ``[BOS] + tokens + [EOS]`` padded to 77: SD1's tokenizer pads with EOS, OpenCLIP
  ones (SD2, SDXL's second encoder) with token 0 ("!") after the first EOS.
* the token count (A1111's "12/75" counter) is 75 per closed chunk plus the tokens of the last;
* with a textual-inversion ``matcher`` (:class:`pipelines.networks.embeddings.EmbeddingMatcher`)
  an embedding's name becomes N placeholder tokens (id 0) carrying the fragment's weight, never
  split across chunks, and the chunk records an :class:`EmbeddingFix` (offset counts the BOS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

from pipelines.networks.embeddings import PLACEHOLDER_TOKEN, Embedding, EmbeddingFix
from pipelines.networks.tags import strip_extra_networks
from pipelines.prompts.composable import split_composable
from pipelines.prompts.parser import BREAK_WEIGHT, parse_prompt_attention
from pipelines.prompts.schedule import get_learned_conditioning_prompt_schedules

CHUNK_LENGTH = 75
DEFAULT_COMMA_BACKTRACK = 20
Emphasis = Literal["Original", "No norm", "Ignore", "None"]
EMPHASIS_MODES: tuple[str, ...] = ("Original", "No norm", "Ignore", "None")


@dataclass(frozen=True)
class PromptChunk:
    """77 token ids, their weights (BOS, EOS and padding weigh 1.0), and TI vectors to inject."""

    tokens: tuple[int, ...]
    multipliers: tuple[float, ...]
    fixes: tuple[EmbeddingFix, ...] = ()


@dataclass(frozen=True)
class ChunkedPrompt:
    """A prompt as chunks, with A1111's token count and the embeddings it used."""

    chunks: tuple[PromptChunk, ...]
    token_count: int
    used: tuple[Embedding, ...] = ()


class PromptChunker:
    """Turns prompt text into :class:`PromptChunk` s for one CLIP tokenizer."""

    def __init__(self, tokenizer: Any, comma_padding_backtrack: int = DEFAULT_COMMA_BACKTRACK,
                 emphasis: Emphasis = "Original", matcher: Optional[Any] = None) -> None:
        if emphasis not in EMPHASIS_MODES:
            raise ValueError(f"unknown emphasis mode {emphasis!r}; expected one of {', '.join(EMPHASIS_MODES)}")
        self.tokenizer = tokenizer
        self.comma_padding_backtrack = comma_padding_backtrack
        self.emphasis = emphasis
        self.matcher = matcher
        self.bos = int(tokenizer.bos_token_id)
        self.eos = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id
        self.pad = self.eos if pad is None else int(pad)
        comma = tokenizer.convert_tokens_to_ids(",</w>")
        self.comma = None if comma in (None, tokenizer.unk_token_id) else int(comma)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, no BOS/EOS, never truncated."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        return [list(ids) for ids in encoded["input_ids"]]

    def _wrap(self, tokens: list[int], multipliers: list[float],
              fixes: Sequence[EmbeddingFix] = ()) -> PromptChunk:
        """BOS + tokens + EOS padded to 77, with the pad token after the first EOS."""
        fill = CHUNK_LENGTH - len(tokens)
        ids = [self.bos, *tokens, *([self.eos] * fill), self.eos]
        weights = [1.0, *multipliers, *([1.0] * fill), 1.0]
        if self.pad != self.eos:
            first_end = ids.index(self.eos)
            ids[first_end + 1:] = [self.pad] * (len(ids) - first_end - 1)
        return PromptChunk(tuple(ids), tuple(weights), tuple(fixes))

    def empty_chunk(self) -> PromptChunk:
        """The chunk of an empty prompt (used to pad shorter prompts to equal length)."""
        return self._wrap([], [])

    def fragments(self, text: str) -> list[list[str | float]]:
        """The weighted fragments of ``text`` under the emphasis mode."""
        if self.emphasis == "None":
            return [[text, 1.0]]
        parsed = parse_prompt_attention(text)
        if self.emphasis == "Ignore":  # weights dropped, BREAK kept
            return [[t, w if (t == "BREAK" and w == BREAK_WEIGHT) else 1.0] for t, w in parsed]
        return parsed

    def chunk(self, text: str) -> ChunkedPrompt:
        """Split ``text`` into chunks exactly as A1111's ``tokenize_line``."""
        fragments = self.fragments(text)
        token_lists = self.tokenize([str(t) for t, _ in fragments])
        chunks: list[PromptChunk] = []
        tokens: list[int] = []
        weights: list[float] = []
        fixes: list[EmbeddingFix] = []
        used: list[Embedding] = []
        last_comma = -1
        count = 0

        def close(is_last: bool = False) -> None:
            nonlocal tokens, weights, fixes, last_comma, count
            count += len(tokens) if is_last else CHUNK_LENGTH
            chunks.append(self._wrap(tokens, weights, fixes))
            tokens, weights, fixes, last_comma = [], [], [], -1

        for ids, (fragment, weight) in zip(token_lists, fragments):
            if fragment == "BREAK" and weight == BREAK_WEIGHT:
                close()
                continue
            position = 0
            while position < len(ids):
                token = ids[position]
                if token == self.comma:
                    last_comma = len(tokens)
                elif (self.comma_padding_backtrack and len(tokens) == CHUNK_LENGTH and last_comma != -1
                      and len(tokens) - last_comma <= self.comma_padding_backtrack):
                    cut = last_comma + 1
                    moved, moved_weights = tokens[cut:], weights[cut:]
                    # A1111 keeps every embedding fix on the closed chunk, even one whose
                    # placeholders just moved (a quirk kept for identical conditioning).
                    tokens, weights = tokens[:cut], weights[:cut]
                    close()
                    tokens, weights = moved, moved_weights
                if len(tokens) == CHUNK_LENGTH:
                    close()
                found = self.matcher.match(ids, position) if self.matcher is not None else None
                if found is None:
                    tokens.append(token)
                    weights.append(float(weight))
                    position += 1
                    continue
                size = found.embedding.num_vectors
                if len(tokens) + size > CHUNK_LENGTH:
                    close()
                fixes.append(EmbeddingFix(len(tokens) + 1, found.embedding))  # +1: the BOS
                if found.embedding not in used:
                    used.append(found.embedding)
                tokens += [PLACEHOLDER_TOKEN] * size
                weights += [float(weight)] * size
                position += found.length
        if tokens or not chunks:
            close(is_last=True)
        return ChunkedPrompt(tuple(chunks), count, tuple(used))


def target_token_count(count: int) -> int:
    """The most tokens a prompt of ``count`` tokens can have before it needs another chunk."""
    return math.ceil(max(count, 1) / CHUNK_LENGTH) * CHUNK_LENGTH


def token_count(text: str, tokenizer: Any, steps: int = 20, *, is_positive: bool = True,
                comma_padding_backtrack: int = DEFAULT_COMMA_BACKTRACK,
                matcher: Optional[Any] = None) -> tuple[int, int]:
    """A1111's prompt token counter: ``(tokens, max_tokens)``, shown as "12/75" or "80/150".

    Like A1111 it drops extra-network tags, splits a positive prompt at ``AND``, expands
    prompt editing for ``steps`` and reports the longest resulting text.
    """
    text = strip_extra_networks(text)
    texts = [part for part, _ in split_composable(text)] if is_positive else [text]
    chunker = PromptChunker(tokenizer, comma_padding_backtrack, matcher=matcher)
    candidates = [entry[1] for schedule in get_learned_conditioning_prompt_schedules(texts, max(1, steps))
                  for entry in schedule]
    count = max((chunker.chunk(str(candidate)).token_count for candidate in candidates), default=0)
    return count, target_token_count(count)


__all__ = [
    "CHUNK_LENGTH",
    "ChunkedPrompt",
    "DEFAULT_COMMA_BACKTRACK",
    "EMPHASIS_MODES",
    "PromptChunk",
    "PromptChunker",
    "strip_extra_networks",
    "target_token_count",
    "token_count",
]
