"""A1111 prompt language → text-encoder conditioning.

* :mod:`.parser` — emphasis ``(a:1.2)``, ``[a]``, escapes, ``BREAK`` → weighted fragments;
* :mod:`.schedule` — prompt editing ``[a:b:when]`` and alternation ``[a|b]`` → text per step;
* :mod:`.composable` — ``AND`` (only single-part prompts are accepted);
* :mod:`.chunking` — fragments → 75-token CLIP chunks, the UI token counter;
* :mod:`.conditioning` — chunks → embeddings (clip skip, emphasis, SDXL's two encoders);
* :mod:`.stepping` — per-step conditioning and the diffusers callback that swaps it.
"""

from pipelines.prompts.chunking import (
    CHUNK_LENGTH,
    ChunkedPrompt,
    PromptChunk,
    PromptChunker,
    strip_extra_networks,
    target_token_count,
    token_count,
)
from pipelines.prompts.composable import ComposablePrompt, ComposablePromptError, single_prompt, split_composable
from pipelines.prompts.conditioning import Conditioning, PromptEncoder, apply_emphasis, pad_pair
from pipelines.prompts.parser import parse_prompt_attention
from pipelines.prompts.schedule import get_learned_conditioning_prompt_schedules, prompt_schedule
from pipelines.prompts.stepping import ConditioningSchedule, ScheduledConditioning, build_schedule, schedule_index

__all__ = [
    "CHUNK_LENGTH",
    "ChunkedPrompt",
    "ComposablePrompt",
    "ComposablePromptError",
    "Conditioning",
    "ConditioningSchedule",
    "PromptChunk",
    "PromptChunker",
    "PromptEncoder",
    "ScheduledConditioning",
    "apply_emphasis",
    "build_schedule",
    "get_learned_conditioning_prompt_schedules",
    "pad_pair",
    "parse_prompt_attention",
    "prompt_schedule",
    "schedule_index",
    "single_prompt",
    "split_composable",
    "strip_extra_networks",
    "target_token_count",
    "token_count",
]
