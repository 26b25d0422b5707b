"""A1111's "DDIM CFG++" (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free
Guidance"): a DDIM step whose re-noising direction is the *unconditional* noise prediction,
with the CFG scale divided by 12.5 (A1111 maps 0..12.5 onto CFG++'s 0..1).

A diffusers pipeline hands its scheduler only the guided prediction, so the scheduler reads the
UNet's raw (unconditional, conditional) output through a forward hook (:meth:`watch`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from diffusers import DDIMScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput

CFGPP_SCALE_DIVISOR = 12.5


class DDIMCFGPPScheduler(DDIMScheduler):
    """DDIM (eta 0) with CFG++ guidance; set :attr:`cfg_scale` and :meth:`watch` the UNet."""

    cfg_scale: float = 7.0
    _raw: Optional[torch.Tensor] = None

    def watch(self, unet: torch.nn.Module) -> Callable[[], None]:
        """Record every UNet output; returns the function that stops it."""
        def keep(_module: Any, _args: Any, output: Any) -> None:
            self._raw = output[0] if isinstance(output, tuple) else getattr(output, "sample", output)

        handle = unet.register_forward_hook(keep)
        return handle.remove

    def _eps(self, output: torch.Tensor, sample: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        if self.config.prediction_type == "v_prediction":
            return alpha.sqrt() * output + (1 - alpha).sqrt() * sample
        if self.config.prediction_type == "sample":
            return (sample - alpha.sqrt() * output) / (1 - alpha).sqrt()
        return output

    def step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = False, generator: Any = None, variance_noise: Any = None,
             return_dict: bool = True) -> Any:
        t = int(timestep)
        prev = t - self.config.num_train_timesteps // self.num_inference_steps
        alpha = self.alphas_cumprod[t].to(sample.device, torch.float32)
        alpha_prev = (self.alphas_cumprod[prev] if prev >= 0 else self.final_alpha_cumprod).to(sample.device,
                                                                                               torch.float32)
        x = sample.float()
        raw = self._raw
        if raw is not None and raw.shape[0] == 2 * sample.shape[0]:
            uncond, cond = (self._eps(part.float(), x, alpha) for part in raw.chunk(2))
            guided = uncond + (self.cfg_scale / CFGPP_SCALE_DIVISOR) * (cond - uncond)
        else:  # no classifier-free guidance in this call (CFG scale 1)
            guided = uncond = self._eps(model_output.float(), x, alpha)
        pred_x0 = (x - (1 - alpha).sqrt() * guided) / alpha.sqrt()
        prev_sample = (alpha_prev.sqrt() * pred_x0 + (1 - alpha_prev).sqrt() * uncond).to(sample.dtype)
        if not return_dict:
            return (prev_sample, pred_x0.to(sample.dtype))
        return DDIMSchedulerOutput(prev_sample=prev_sample, pred_original_sample=pred_x0.to(sample.dtype))
