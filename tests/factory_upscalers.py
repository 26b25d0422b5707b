"""Random-weight ESRGAN-family files in the three key layouts real files use.

The layouts are written here from basicsr's names with the renaming each original project
uses, independently of ``pipelines.extras.rrdbnet``'s reader, so loading them tests it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from pipelines.extras.rrdbnet import RRDBNet, RRDBShape

LAYOUTS = ("basicsr", "new", "old")


def random_rrdbnet(upsamples: int = 2, unshuffle: int = 1, features: int = 8, growth: int = 4, blocks: int = 2,
                   seed: int = 0) -> RRDBNet:
    """A small RRDBNet of scale ``2**upsamples / unshuffle`` (Real-ESRGAN x2plus: 2 and 2)."""
    torch.manual_seed(seed)
    net = RRDBNet(RRDBShape(3 * unshuffle ** 2, 3, features, growth, blocks, upsamples, unshuffle))
    for param in net.parameters():
        param.data.normal_(0, 0.05)
    return net.eval()


def _new_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original ESRGAN repository's names (RRDB_ESRGAN_x4.pth)."""
    heads = {"body": "RRDB_trunk", "conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2",
             "conv_hr": "HRconv"}
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        for i in (1, 2, 3):
            rest = rest.replace(f"rdb{i}.", f"RDB{i}.")
        out[f"{heads.get(head, head)}.{rest}"] = value
    return out


def _old_layout(state: dict[str, torch.Tensor], blocks: int, upsamples: int) -> dict[str, torch.Tensor]:
    """The old sequential ESRGAN model: model.0, model.1.sub.N…, then conv/act pairs per stage."""
    out = {}
    index = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}"}
    position = 3
    for i in range(upsamples):
        index[f"conv_up{i + 1}"] = f"model.{position}"
        position += 3  # upsample, conv, activation
    index["conv_hr"], index["conv_last"] = f"model.{position - 1}", f"model.{position + 1}"
    for key, value in state.items():
        head, _, kind = key.rpartition(".")
        if head.startswith("body."):
            _, n, rdb, conv = head.split(".")
            out[f"model.1.sub.{n}.{rdb.upper()}.{conv}.0.{kind}"] = value
        else:
            out[f"{index[head]}.{kind}"] = value
    return out


def write_upscaler(folder: Path, name: str, net: RRDBNet, layout: str = "basicsr", fmt: str = "pth") -> Path:
    """Save ``net`` in ``layout`` as ``folder/name.{pth,safetensors}``; basicsr .pth files wrap
    the weights in ``params_ema`` as Real-ESRGAN's releases do."""
    state = {k: v.clone().contiguous() for k, v in net.state_dict().items()}
    if layout == "new":
        state = _new_layout(state)
    elif layout == "old":
        state = _old_layout(state, net.shape.blocks, net.shape.upsamples)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{fmt}"
    if fmt == "safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state} if layout == "basicsr" else state, path)
    return path
