"""Upscalers by A1111 name: built-in Lanczos / Nearest, and ESRGAN-family model files.

Model files are found in ``models/ESRGAN`` and ``models/RealESRGAN`` (A1111's folders) and
named by file stem, as A1111 lists them. Each file's layout is checked when the folder is
scanned, so the list only offers what really loads; unusable files are kept with a reason.
Loaded networks live in the shared model cache, under the same memory budget as checkpoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipelines.device import DevicePolicy
from pipelines.extras.rrdbnet import RRDBNet, UnsupportedUpscalerModel, build_rrdbnet, check_layout
from pipelines.interrupts import stop_inside
from pipelines.jobs import JobControl
from pipelines.models.cache import ModelCache
from pipelines.models.loader import module_bytes
from pipelines.models.catalog import entry_problem
from pipelines.models.pickles import RefusedPickleError
from pipelines.models.tensorfile import read_tensor_file

log = logging.getLogger(__name__)

NONE = "None"
BUILT_IN = {"Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}
MODEL_FOLDERS = ("ESRGAN", "RealESRGAN")
MODEL_SUFFIXES = (".pth", ".pt", ".safetensors")
TILE, TILE_OVERLAP = 192, 16  # A1111's ESRGAN tile defaults: bounded memory on any image size
MAX_OUTPUT_PIXELS = 8192 * 8192
MAX_MODEL_PASSES = 3  # A1111 runs a model at most three times to reach a larger scale


class UnknownUpscalerError(LookupError):
    """No upscaler has that name; the message lists the valid ones."""


@dataclass(frozen=True)
class UpscalerInfo:
    """One entry of ``GET /sdapi/v1/upscalers`` (A1111 field names)."""

    name: str
    model_name: Optional[str] = None
    model_path: Optional[Path] = None
    scale: int = 4
    error: Optional[str] = None

    @property
    def usable(self) -> bool:
        return self.error is None


def _probe(path: Path) -> tuple[int, Optional[str]]:
    """(scale, None) for a loadable RRDBNet file, (4, reason) otherwise; reads names and
    shapes only, so a folder of large models scans quickly."""
    try:
        return check_layout(read_tensor_file(path, meta=True))[1].scale, None
    except (UnsupportedUpscalerModel, RefusedPickleError) as exc:
        return 4, str(exc)
    except Exception as exc:  # unpickling refused, truncated file, …: never stop the scan
        return 4, f"cannot be read safely: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


class UpscalerCatalog:
    """The upscalers a user can pick, and running them."""

    def __init__(self, models_dir: Path, policy: DevicePolicy, cache: ModelCache) -> None:
        self.models_dir, self.policy, self.cache = models_dir, policy, cache
        self.items: list[UpscalerInfo] = []
        self.refresh()

    def refresh(self) -> None:
        items = [UpscalerInfo(NONE), *(UpscalerInfo(name) for name in BUILT_IN)]
        for folder in MODEL_FOLDERS:
            root = self.models_dir / folder
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES) if root.is_dir() else []
            for path in files:
                problem = entry_problem(path)
                scale, error = (4, problem) if problem else _probe(path)
                if error:
                    log.warning("upscaler %s is not usable: %s", path.name, error)
                items.append(UpscalerInfo(path.stem, "ESRGAN", path, scale, error))
        self.items = items

    @property
    def usable(self) -> list[UpscalerInfo]:
        return [i for i in self.items if i.usable]

    @property
    def unusable(self) -> list[UpscalerInfo]:
        return [i for i in self.items if not i.usable]

    def find(self, name: str) -> UpscalerInfo:
        """The usable upscaler called ``name`` (case-insensitive)."""
        for info in self.items:
            if info.name.casefold() == str(name).casefold():
                if info.error:
                    raise UnknownUpscalerError(f"upscaler {info.name} cannot be used: {info.error}")
                return info
        raise UnknownUpscalerError(
            f"unknown upscaler {name!r}; available: {', '.join(i.name for i in self.usable)}"
        )

    def upscale(self, image: Image.Image, name: str, scale: float, control: Optional[JobControl] = None) -> Image.Image:
        """``image`` scaled by ``scale`` with upscaler ``name`` (A1111's Upscaler.upscale: run the
        model until the size is reached, then Lanczos to the exact size). An interrupt of
        ``control`` during a model pass raises :class:`StoppedInside`."""
        info = self.find(name)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if size[0] * size[1] > MAX_OUTPUT_PIXELS:
            raise ValueError(f"upscaling {image.width}x{image.height} by {scale:g} gives {size[0]}x{size[1]}, "
                             f"more than the {MAX_OUTPUT_PIXELS // 1_000_000} megapixel limit")
        if info.name == NONE:
            return image
        if info.model_path is None:
            return image.resize(size, BUILT_IN[info.name])
        net = self._network(info)
        result = image.convert("RGB")
        for _ in range(MAX_MODEL_PASSES):
            if result.width >= size[0] and result.height >= size[1]:
                break
            with stop_inside(control, net):
                result = self._run(net, result)
        return result if result.size == size else result.resize(size, Image.Resampling.LANCZOS)

    def _network(self, info: UpscalerInfo) -> RRDBNet:
        key = ("upscaler", str(info.model_path))
        net = self.cache.get(key)
        if net is None:
            net = build_rrdbnet(read_tensor_file(info.model_path)).to(self.policy.device, self.policy.dtype)
            self.cache.put(key, net, module_bytes(net))
        return net

    def _run(self, net: RRDBNet, image: Image.Image) -> Image.Image:
        """One model pass in overlapping tiles (seams cut from the overlap)."""
        array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        scale = net.shape.scale
        _, _, height, width = array.shape
        out = torch.zeros(1, 3, height * scale, width * scale)
        with torch.inference_mode():
            for top in range(0, height, TILE):
                for left in range(0, width, TILE):
                    y0, x0 = max(top - TILE_OVERLAP, 0), max(left - TILE_OVERLAP, 0)
                    y1, x1 = min(top + TILE + TILE_OVERLAP, height), min(left + TILE + TILE_OVERLAP, width)
                    tile = array[:, :, y0:y1, x0:x1].to(self.policy.device, self.policy.dtype)
                    pad_h, pad_w = (-tile.shape[2]) % net.shape.unshuffle, (-tile.shape[3]) % net.shape.unshuffle
                    if pad_h or pad_w:  # pixel-unshuffle needs sides divisible by its factor
                        tile = F.pad(tile, (0, pad_w, 0, pad_h), mode="replicate")
                    result = net(tile).float().cpu()
                    h, w = min(TILE, height - top), min(TILE, width - left)
                    dy, dx = (top - y0) * scale, (left - x0) * scale
                    out[:, :, top * scale:(top + h) * scale, left * scale:(left + w) * scale] = \
                        result[:, :, dy:dy + h * scale, dx:dx + w * scale]
        pixels = (out[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        return Image.fromarray(pixels)
