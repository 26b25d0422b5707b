"""NaN checks after the UNet and after the VAE, so a broken pass never becomes a silent black
image (a NaN pixel is cast to 0 when the PNG is written).

A1111 checks the UNet's output every step (``devices.test_for_nans``) and, with the
``auto_vae_precision`` option, decodes again with the VAE in float32 when a half-precision
decode overflows (its ``--no-half-vae``). Atelier does both; what it cannot recover from fails
the job with the cause and the setting to try.
"""

from __future__ import annotations

import torch


class NaNError(RuntimeError):
    """A generation produced NaNs; the message says where and what to change."""


def has_nans(tensor: torch.Tensor) -> bool:
    return not bool(torch.isfinite(tensor).all())


def unet_nans(step: int, dtype: torch.dtype) -> NaNError:
    precision = str(dtype).removeprefix("torch.")
    return NaNError(
        f"The UNet produced NaNs (not-a-number values) at sampling step {step}, so the image would be black; "
        f"nothing was saved. The model runs in {precision}: a half-precision overflow is fixed by starting Atelier "
        "with --precision fp32 (A1111's --no-half); in float32 the checkpoint itself (or a LoRA / embedding in the "
        "prompt) is broken, so try another one, or a lower CFG scale."
    )


def vae_nans(dtype: torch.dtype, retried: bool) -> NaNError:
    precision = str(dtype).removeprefix("torch.")
    if retried:
        cause = f"in {precision} and again in float32"
        advice = "the VAE file is broken: choose another VAE (sd_vae setting) or 'Automatic'"
    elif dtype == torch.float32:
        cause = "in float32"
        advice = "the VAE file is broken: choose another VAE (sd_vae setting) or 'Automatic'"
    else:
        cause = f"in {precision}"
        advice = ("turn on the auto_vae_precision setting (decode again in float32, A1111's --no-half-vae) "
                  "or start Atelier with --precision fp32")
    return NaNError(f"The VAE produced NaNs while decoding {cause}, so the image would be black; nothing was saved. "
                    f"Fix: {advice}.")
