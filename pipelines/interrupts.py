"""Interrupt inside long model calls: the VAE decode / encode (tiled or not) and upscaler nets.

The sampler checks the interrupt flag after every step, but one decode of a large image, or
an ESRGAN pass, can run for minutes with no step in between. :func:`stop_inside` hooks every
submodule of the given networks so that the next layer to run raises :class:`StoppedInside`,
and the job discards that image.

An interrupt that arrived *before* a call began does not stop it: after an interrupt during
sampling the sampler stops and its partial latents are still decoded into the image A1111
users expect. Only a new interrupt during the call, or an abort (server shutdown), stops it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch

from pipelines.jobs import JobControl, JobInterrupted


class StoppedInside(JobInterrupted):
    """A model call was cut short by an interrupt; its output is discarded."""


class _Watch:
    """One network's hooks: ``begin`` on the network itself, ``check`` on every layer inside."""

    def __init__(self, control: JobControl, name: str) -> None:
        self.control, self.name, self.seen = control, name, control.interrupts

    def begin(self, module: torch.nn.Module, args: object) -> None:
        self.seen = self.control.interrupts  # an interrupt from before this call lets it run
        self.check(module, args)

    def check(self, module: torch.nn.Module, args: object) -> None:
        if self.control.aborted.is_set() or self.control.interrupts > self.seen:
            raise StoppedInside(f"interrupted during {self.name}")


@contextmanager
def stop_inside(control: Optional[JobControl], *entries: Optional[torch.nn.Module]) -> Iterator[None]:
    """While active, a call of any of ``entries`` (e.g. ``vae.decoder``; one call per tile when
    tiled) stops at its next layer once ``control`` is interrupted again or aborted."""
    modules = [m for m in entries if m is not None]
    if control is None or not modules:
        yield
        return
    handles = []
    for entry in modules:
        watch = _Watch(control, type(entry).__name__)
        handles.append(entry.register_forward_pre_hook(watch.begin))
        handles += [m.register_forward_pre_hook(watch.check) for m in entry.modules() if m is not entry]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
