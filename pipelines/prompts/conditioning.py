"""Prompt text → text-encoder conditioning tensors, the way A1111 builds them.

Each text is chunked by :class:`~pipelines.prompts.chunking.PromptChunker` (weights, BREAK,
75-token chunks), every chunk goes through the text encoder on its own, the emphasis weights
multiply the token embeddings, and the chunks are concatenated along the sequence (k chunks →
``77*k`` positions).  What differs per family, following A1111:

* SD1 (OpenAI CLIP-L): "Clip skip" n takes ``hidden_states[-n]`` and applies the final layer
  norm; n = 1 is the last layer.  (diffusers' ``clip_skip=n-1`` is the same thing.)
* SD2 (OpenCLIP-H): A1111 ignores Clip skip and uses the penultimate layer + final norm,
  which is the ``last_hidden_state`` of the 23-layer diffusers encoder.
* Textual-inversion embeddings (an :class:`~pipelines.networks.embeddings.EmbeddingDatabase`)
  are matched while chunking and their vectors injected into the token embeddings; the ones
  used are listed in :attr:`PromptEncoder.used_embeddings` (for ``TI hashes``).
* SDXL: both encoders give their penultimate layer without final norm, Clip skip ignored;
  the features are concatenated (768 + 1280) and the pooled vector (``text_embeds``) comes
  from encoder 2 on the first chunk.  The refiner has encoder 2 only.  An all-empty negative
  prompt is encoded as zeros, embeddings and pooled alike (A1111 zeroes the empty negative on
  every SDXL model; diffusers does it only for ``negative_prompt=None`` on the base).

Emphasis "Original" (A1111's default) multiplies each token's embedding by its weight and
rescales the chunk so its mean (over the whole batch of texts encoded together) is unchanged.
A1111 encodes all texts of one prompt's editing schedule in one batch, so the mean — and the
chunk count, padded with empty chunks — is shared by them; :meth:`PromptEncoder.encode_batch`
does the same.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

import torch

from pipelines.networks.embeddings import Embedding, EmbeddingFix, encoder_widths, inject_embeddings
from pipelines.prompts.chunking import (
    DEFAULT_COMMA_BACKTRACK,
    ChunkedPrompt,
    Emphasis,
    PromptChunk,
    PromptChunker,
)

TOKENS_PER_CHUNK = 77
LayerRule = Literal["clip_skip", "last", "penultimate"]


@dataclass(frozen=True)
class Conditioning:
    """Encoder output for a batch of texts: ``embeds`` [B, 77*k, D], ``pooled`` [B, P] (SDXL)."""

    embeds: torch.Tensor
    pooled: Optional[torch.Tensor] = None

    @property
    def chunks(self) -> int:
        return self.embeds.shape[1] // TOKENS_PER_CHUNK

    def padded(self, chunks: int, empty: "Conditioning") -> "Conditioning":
        """Extended to ``chunks`` chunks with ``empty`` (A1111's "pad prompt/negative")."""
        missing = chunks - self.chunks
        if missing <= 0:
            return self
        filler = empty.embeds.to(self.embeds).repeat(self.embeds.shape[0], missing, 1)
        return Conditioning(torch.cat([self.embeds, filler], dim=1), self.pooled)


@dataclass
class EncoderBranch:
    """One tokenizer + text encoder and which of its layers A1111 reads."""

    chunker: PromptChunker
    encoder: Any
    layer: LayerRule
    pooled: bool = False
    component: str = "text_encoder"

    def run(self, tokens: torch.Tensor, clip_skip: int,
            fixes: Sequence[Sequence[EmbeddingFix]] = ()) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Hidden states [B, 77, D] (and pooled [B, P]) for token ids [B, 77], with the
        textual-inversion vectors of ``fixes`` (one list per row) injected."""
        if any(fixes):
            with inject_embeddings(self.encoder, self.component, fixes):
                out = self.encoder(input_ids=tokens, output_hidden_states=True)
        else:
            out = self.encoder(input_ids=tokens, output_hidden_states=True)
        pooled = out.text_embeds if self.pooled else None
        if self.layer == "penultimate":
            return out.hidden_states[-2], pooled
        if self.layer == "last" or clip_skip <= 1:
            return out.last_hidden_state, pooled
        layers = out.hidden_states
        hidden = layers[-min(clip_skip, len(layers))]
        # transformers 5 puts final_layer_norm on the model itself, 4.x under .text_model
        body = getattr(self.encoder, "text_model", self.encoder)
        return body.final_layer_norm(hidden), pooled


def apply_emphasis(z: torch.Tensor, multipliers: torch.Tensor, mode: Emphasis) -> torch.Tensor:
    """Weight token embeddings ``z`` [B, T, D] by ``multipliers`` [B, T] under A1111's emphasis mode."""
    if mode in ("None", "Ignore") or bool((multipliers == 1.0).all()):
        return z  # weights of 1 change nothing (A1111's ratio is then exactly 1)
    # A1111 multiplies by float32 weights, so the product is float32 even for a half encoder.
    weighted = z.float() * multipliers.to(device=z.device, dtype=torch.float32).unsqueeze(-1)
    if mode != "No norm":
        weighted = weighted * (z.mean().float() / weighted.mean())
    return weighted.to(z.dtype)


def _device(module: Any) -> torch.device:
    return next(module.parameters()).device


class PromptEncoder:
    """Encodes prompts for one checkpoint's text encoder(s); caches results per instance.

    Build it from a :class:`~pipelines.models.loader.LoadedCheckpoint` with
    :meth:`from_checkpoint`, or from components.  With ``text_encoder_2`` it is SDXL (and a
    refiner when ``text_encoder`` is None); otherwise SD1, or SD2 when ``family`` says so or the
    encoder is OpenCLIP (``hidden_act == "gelu"``).  Create one per job (or call :meth:`clear`)
    — the cache holds tensors.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        text_encoder: Any = None,
        tokenizer_2: Any = None,
        text_encoder_2: Any = None,
        *,
        family: Optional[str] = None,
        comma_padding_backtrack: int = DEFAULT_COMMA_BACKTRACK,
        emphasis: Emphasis = "Original",
        zero_empty_negative: Optional[bool] = None,
        embeddings: Any = None,
        cache_size: int = 64,
    ) -> None:
        widths = encoder_widths({"text_encoder": text_encoder, "text_encoder_2": text_encoder_2})

        def chunker(tok: Any) -> PromptChunker:
            matcher = embeddings.matcher(tok, widths) if embeddings is not None else None
            return PromptChunker(tok, comma_padding_backtrack, emphasis, matcher)

        family = getattr(family, "value", family)
        self.emphasis = emphasis
        self.branches: list[EncoderBranch] = []
        if text_encoder_2 is not None:
            if tokenizer_2 is None:
                raise ValueError("text_encoder_2 needs tokenizer_2")
            if text_encoder is not None:
                self.branches.append(EncoderBranch(chunker(tokenizer), text_encoder, "penultimate"))
            self.branches.append(
                EncoderBranch(chunker(tokenizer_2), text_encoder_2, "penultimate", pooled=True,
                              component="text_encoder_2")
            )
            self.is_xl = True
        else:
            if tokenizer is None or text_encoder is None:
                raise ValueError("a PromptEncoder needs a tokenizer and a text encoder")
            openclip = getattr(getattr(text_encoder, "config", None), "hidden_act", None) == "gelu"
            layer: LayerRule = "last" if family == "sd2" or (family is None and openclip) else "clip_skip"
            self.branches.append(EncoderBranch(chunker(tokenizer), text_encoder, layer))
            self.is_xl = False
        self.zero_empty_negative = self.is_xl if zero_empty_negative is None else zero_empty_negative
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, tuple[list[Conditioning], list[Embedding]]] = OrderedDict()
        self._used: list[Embedding] = []

    @classmethod
    def from_checkpoint(cls, loaded: Any, **options: Any) -> "PromptEncoder":
        """The encoder for a loaded checkpoint's components and family."""
        parts = loaded.components
        return cls(
            parts.get("tokenizer"), parts.get("text_encoder"), parts.get("tokenizer_2"), parts.get("text_encoder_2"),
            family=loaded.architecture.family.value, **options,
        )

    @property
    def chunker(self) -> PromptChunker:
        """The chunker of the first encoder (for token counting)."""
        return self.branches[0].chunker

    @property
    def used_embeddings(self) -> list[Embedding]:
        """Textual-inversion embeddings found in the texts encoded so far (A1111's ``TI hashes``)."""
        return list(self._used)

    def clear(self) -> None:
        self._cache.clear()
        self._used.clear()

    def reset_usage(self) -> None:
        """Start a new job's list of used embeddings; cached conditionings stay."""
        self._used.clear()

    def _note_used(self, used: Sequence[Embedding]) -> None:
        self._used += [e for e in used if e not in self._used]

    # -- encoding -------------------------------------------------------------------------------
    def encode(self, text: str, clip_skip: int = 1, *, negative: bool = False) -> Conditioning:
        """One text → :class:`Conditioning` with batch size 1."""
        return self.encode_batch([text], clip_skip, negative=negative)[0]

    def empty(self, clip_skip: int = 1) -> Conditioning:
        """The empty prompt's conditioning (never zeroed), used to pad shorter prompts."""
        return self.encode("", clip_skip)

    def encode_pair(self, prompt: str, negative: str, clip_skip: int = 1) -> tuple[Conditioning, Conditioning]:
        """(cond, uncond), the shorter padded with empty-prompt chunks to the same length."""
        cond = self.encode(prompt, clip_skip)
        uncond = self.encode(negative, clip_skip, negative=True)
        return pad_pair(cond, uncond, self.empty(clip_skip))

    def encode_batch(self, texts: Sequence[str], clip_skip: int = 1, *, negative: bool = False) -> list[Conditioning]:
        """Texts encoded together like A1111 encodes one prompt's schedule: equal chunk count,
        emphasis mean shared by the batch.  Results are cached by (texts, clip skip, negative)."""
        texts = [str(t) for t in texts]
        key = (tuple(texts), int(clip_skip), bool(negative))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self._note_used(hit[1])
            return hit[0]
        result, used = self._encode(texts, int(clip_skip))
        self._note_used(used)
        if negative and self.zero_empty_negative and all(t == "" for t in texts):
            result = [Conditioning(torch.zeros_like(c.embeds),
                                   None if c.pooled is None else torch.zeros_like(c.pooled)) for c in result]
        self._cache[key] = (result, used)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def _encode(self, texts: list[str], clip_skip: int) -> tuple[list[Conditioning], list[Embedding]]:
        chunked = [[branch.chunker.chunk(text) for text in texts] for branch in self.branches]
        used: list[Embedding] = []
        for per_branch in chunked:
            for prompt in per_branch:
                used += [e for e in prompt.used if e not in used]
        count = max(len(c.chunks) for per_branch in chunked for c in per_branch)
        features: list[torch.Tensor] = []
        pooled: Optional[torch.Tensor] = None
        with torch.no_grad():
            for branch, prompts in zip(self.branches, chunked):
                z, pool = self._encode_branch(branch, prompts, count, clip_skip)
                features.append(z)
                pooled = pool if pool is not None else pooled
        embeds = torch.cat(features, dim=-1) if len(features) > 1 else features[0]
        return [
            Conditioning(embeds[i:i + 1].clone(), None if pooled is None else pooled[i:i + 1].clone())
            for i in range(len(texts))
        ], used

    def _encode_branch(self, branch: EncoderBranch, prompts: list[ChunkedPrompt], count: int,
                       clip_skip: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        device = _device(branch.encoder)
        empty = branch.chunker.empty_chunk()
        zs: list[torch.Tensor] = []
        first_pooled: Optional[torch.Tensor] = None
        for index in range(count):
            batch: list[PromptChunk] = [p.chunks[index] if index < len(p.chunks) else empty for p in prompts]
            tokens = torch.tensor([c.tokens for c in batch], dtype=torch.long, device=device)
            weights = torch.tensor([c.multipliers for c in batch], dtype=torch.float32, device=device)
            z, pool = branch.run(tokens, clip_skip, [c.fixes for c in batch])
            zs.append(apply_emphasis(z, weights, self.emphasis))
            if index == 0:
                first_pooled = pool
        return torch.cat(zs, dim=1), first_pooled


def pad_pair(cond: Conditioning, uncond: Conditioning, empty: Conditioning) -> tuple[Conditioning, Conditioning]:
    """Pad the shorter of cond/uncond with empty-prompt chunks (A1111's ``pad_cond_uncond``)."""
    chunks = max(cond.chunks, uncond.chunks)
    return cond.padded(chunks, empty), uncond.padded(chunks, empty)


__all__ = ["Conditioning", "EncoderBranch", "PromptEncoder", "TOKENS_PER_CHUNK", "apply_emphasis", "pad_pair"]
