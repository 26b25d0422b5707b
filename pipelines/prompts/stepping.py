"""Per-step conditioning for prompt editing / alternation, fed to diffusers pipelines.

A1111 gives the sampler a list of ``(end_at_step, cond)`` per prompt and, at every model call,
uses the first entry with ``step <= end_at_step`` (``step`` counts model calls from 0).  So
``[a:b:3]`` with 10 steps samples steps 0–3 with ``a`` and 4–9 with ``b``, and ``[a|b]`` gives
``a a b a b …``.  diffusers encodes once, but lets ``callback_on_step_end`` replace
``prompt_embeds`` (and SDXL's pooled ``add_text_embeds``) after each step; inside the loop
those are ``torch.cat([negative, positive])`` when CFG is on.  :class:`ConditioningSchedule`
holds every text's conditioning, hands out the step-0 pipeline kwargs and a callback that
swaps in the next step's tensors whenever they change.

Shapes follow A1111: all texts of one prompt's schedule are encoded together (same chunk
count); prompts of a batch with different lengths are stacked by repeating the last vector
(A1111's ``stack_conds``; for negatives, where A1111 would fail, empty chunks are used); and
cond/uncond of different lengths are padded with empty-prompt chunks.  That last point is
A1111 with "Pad prompt/negative prompt" (``pad_cond_uncond``) on; with it off (A1111's default)
unequal lengths run as two UNet passes, which diffusers' pipelines cannot do.

The step index is diffusers' loop index (one per UNet call).  Build the schedule with A1111's
step count: the sampling steps, doubled for second-order samplers (Heun, DPM2, DPM2 a,
DPM++ 2S a, DPM++ SDE), whose diffusers schedulers also run about two loop iterations per step.
PNDM (PLMS) runs one extra iteration; the last schedule entry simply covers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from pipelines.prompts.conditioning import Conditioning, PromptEncoder, pad_pair
from pipelines.prompts.schedule import get_learned_conditioning_prompt_schedules

StepCallback = Callable[[Any, int, Any, dict], dict]


@dataclass(frozen=True)
class ScheduledConditioning:
    """A conditioning used up to and including sampling step ``end_at_step``."""

    end_at_step: int
    cond: Conditioning


def schedule_index(ends: Sequence[int], step: int) -> int:
    """Index of the entry A1111 uses at 0-based ``step``: the first with ``step <= end``."""
    for index, end in enumerate(ends):
        if step <= end:
            return index
    return 0  # past the last step A1111 falls back to the first entry


def _pick(entries: Sequence[ScheduledConditioning], step: int) -> Conditioning:
    return entries[schedule_index([e.end_at_step for e in entries], step)].cond


def _stack_repeat_last(conds: Sequence[Conditioning]) -> Conditioning:
    """Stack a batch, lengthening shorter embeddings by repeating their last vector."""
    length = max(c.embeds.shape[1] for c in conds)
    embeds = []
    for c in conds:
        e = c.embeds
        if e.shape[1] < length:
            e = torch.cat([e, e[:, -1:].repeat(1, length - e.shape[1], 1)], dim=1)
        embeds.append(e)
    pooled = None if conds[0].pooled is None else torch.cat([c.pooled for c in conds])
    return Conditioning(torch.cat(embeds), pooled)


def _stack_pad_empty(conds: Sequence[Conditioning], empty: Conditioning) -> Conditioning:
    chunks = max(c.chunks for c in conds)
    padded = [c.padded(chunks, empty) for c in conds]
    pooled = None if conds[0].pooled is None else torch.cat([c.pooled for c in padded])
    return Conditioning(torch.cat([c.embeds for c in padded]), pooled)


@dataclass
class ConditioningSchedule:
    """Positive and negative conditioning per batch item and step, with diffusers glue."""

    positive: list[list[ScheduledConditioning]]
    negative: list[list[ScheduledConditioning]]
    empty: Conditioning
    steps: int

    @property
    def batch_size(self) -> int:
        return len(self.positive)

    @property
    def has_pooled(self) -> bool:
        return self.positive[0][0].cond.pooled is not None

    @property
    def is_static(self) -> bool:
        """True when no prompt changes during sampling (no callback swap needed)."""
        return all(len(entries) == 1 for entries in [*self.positive, *self.negative])

    def _key(self, step: int) -> tuple[int, ...]:
        return tuple(schedule_index([e.end_at_step for e in entries], step)
                     for entries in [*self.positive, *self.negative])

    def changes_after(self, step: int) -> bool:
        """Whether step ``step + 1`` uses other tensors than ``step``."""
        return self._key(step) != self._key(step + 1)

    def at(self, step: int) -> tuple[Conditioning, Conditioning]:
        """(cond, uncond) for the batch at 0-based sampling ``step``, equal in length."""
        cond = _stack_repeat_last([_pick(entries, step) for entries in self.positive])
        uncond = _stack_pad_empty([_pick(entries, step) for entries in self.negative], self.empty)
        return pad_pair(cond, uncond, self.empty)

    def pipeline_kwargs(self, step: int = 0) -> dict[str, torch.Tensor]:
        """Embedding kwargs for a diffusers SD/SDXL pipeline call starting at ``step``.

        Pass them instead of ``prompt``/``negative_prompt``/``clip_skip``, with
        ``num_images_per_prompt=1`` (the batch is already in the tensors).
        """
        cond, uncond = self.at(step)
        kwargs = {"prompt_embeds": cond.embeds, "negative_prompt_embeds": uncond.embeds}
        if cond.pooled is not None:
            kwargs["pooled_prompt_embeds"] = cond.pooled
            kwargs["negative_pooled_prompt_embeds"] = uncond.pooled
        return kwargs

    @property
    def tensor_inputs(self) -> list[str]:
        """``callback_on_step_end_tensor_inputs`` the swap callback needs (plus diffusers' default)."""
        names = ["latents", "prompt_embeds"]
        if self.has_pooled:
            names.append("add_text_embeds")
        return names

    def callback(self, inner: Optional[StepCallback] = None, step_offset: int = 0) -> StepCallback:
        """A ``callback_on_step_end`` that runs ``inner`` then swaps conditioning when it changes.

        ``step_offset`` is the schedule step of the pipeline's first loop iteration (e.g. the
        base model's steps when an SDXL refiner continues the same schedule).
        """
        return _SwapCallback(self, inner, step_offset)


class _SwapCallback:
    def __init__(self, schedule: ConditioningSchedule, inner: Optional[StepCallback], offset: int) -> None:
        self.schedule, self.inner, self.offset = schedule, inner, offset

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        out = self.inner(pipe, step, timestep, kwargs) if self.inner is not None else kwargs
        out = kwargs if out is None else out
        current = self.offset + step
        if self.schedule.is_static or not self.schedule.changes_after(current):
            return out
        reference = kwargs.get("prompt_embeds")
        if reference is None:
            raise ValueError("the swap callback needs callback_on_step_end_tensor_inputs=schedule.tensor_inputs")
        cond, uncond = self.schedule.at(current + 1)
        cfg = bool(getattr(pipe, "do_classifier_free_guidance", reference.shape[0] != cond.embeds.shape[0]))
        embeds = torch.cat([uncond.embeds, cond.embeds]) if cfg else cond.embeds
        out["prompt_embeds"] = embeds.to(device=reference.device, dtype=reference.dtype)
        if cond.pooled is not None and "add_text_embeds" in kwargs:
            pooled_ref = kwargs["add_text_embeds"]
            pooled = torch.cat([uncond.pooled, cond.pooled]) if cfg else cond.pooled
            out["add_text_embeds"] = pooled.to(device=pooled_ref.device, dtype=pooled_ref.dtype)
        return out


def build_schedule(
    encoder: PromptEncoder,
    prompts: Sequence[str],
    negative_prompts: Sequence[str],
    steps: int,
    clip_skip: int = 1,
    *,
    hires_steps: Optional[int] = None,
    use_old_scheduling: bool = False,
) -> ConditioningSchedule:
    """Encode every text of every prompt's editing schedule (once per distinct prompt).

    ``prompts`` are positive texts already free of ``AND`` (see
    :func:`pipelines.prompts.composable.single_prompt`) and of extra-network tags.
    ``steps`` is A1111's schedule length: the sampling steps (×2 for second-order samplers,
    whose every model call is a step); ``hires_steps`` selects the hires-pass rule.
    """
    if len(prompts) != len(negative_prompts) or not prompts:
        raise ValueError(f"need one negative prompt per prompt, got {len(prompts)} and {len(negative_prompts)}")

    def scheduled(texts: Sequence[str], negative: bool) -> list[list[ScheduledConditioning]]:
        schedules = get_learned_conditioning_prompt_schedules(texts, steps, hires_steps, use_old_scheduling)
        done: dict[str, list[ScheduledConditioning]] = {}
        for text, schedule in zip(texts, schedules):
            if text not in done:
                conds = encoder.encode_batch([str(entry[1]) for entry in schedule], clip_skip, negative=negative)
                done[text] = [ScheduledConditioning(int(entry[0]), c) for entry, c in zip(schedule, conds)]
        return [done[text] for text in texts]

    return ConditioningSchedule(
        positive=scheduled(list(prompts), False),
        negative=scheduled(list(negative_prompts), True),
        empty=encoder.empty(clip_skip),
        steps=hires_steps if hires_steps is not None and not use_old_scheduling else steps,
    )


__all__ = ["ConditioningSchedule", "ScheduledConditioning", "build_schedule", "schedule_index"]
