"""BatchNorm statistics that match what the network sees (the cause of "every input 0.99").

In evaluation mode BatchNorm normalises with running averages updated at momentum 0.1 during
training. A network trained from scratch for a few hundred steps, whose activations drift all the
while, ends with averages that describe none of its inputs: every picture lands in the same
saturated corner. Two remedies, per case:

* from scratch: ``recalibrate`` before every evaluation and before saving — reset the averages and
  re-estimate them (cumulative mean, no momentum) over training batches with the final weights;
* fine-tuning pretrained weights on a small set: ``freeze`` — keep the pretrained statistics
  (BatchNorm layers stay in eval mode while the rest trains).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def freeze(model: nn.Module) -> None:
    """BatchNorm layers back in eval mode (call after every ``model.train()``)."""
    for layer in batchnorm_layers(model):
        layer.eval()


@torch.no_grad()
def recalibrate(model: nn.Module, batches: Iterable[torch.Tensor], forward: Callable[[torch.Tensor], object]) -> int:
    """Re-estimate every BatchNorm's running mean / variance over ``batches`` with the current
    weights; returns the number of batches used. The model is left in eval mode."""
    layers = batchnorm_layers(model)
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
    model.train()
    used = 0
    for batch in batches:
        forward(batch)
        used += 1
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum
    model.eval()
    return used
