"""The DeepFaceLab autoencoder in torch: one shared encoder and inter, one decoder per side.

Training teaches the shared encoder/inter to describe both people's faces with one code (pose,
expression, light) and each decoder to draw its own person from it; swapping is encoding a
destination face and decoding it with the source decoder. ``quick96`` is DeepFaceLab's Quick96
(96 px full face, ae 128, encoder/decoder 64, mask decoder 16); every size is configurable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

import torch
from torch import nn
from torch.nn import functional as F

from pipelines.dfl.colour import check_mode
from pipelines.dfl.facetype import FaceType, check_face_type

PRESETS: dict[str, dict[str, Any]] = {
    "quick96": {"resolution": 96, "face_type": "full", "ae_dims": 128, "e_dims": 64, "d_dims": 64,
                "d_mask_dims": 16, "batch_size": 4},
    "sae-128": {"resolution": 128, "face_type": "whole face", "ae_dims": 256, "e_dims": 64, "d_dims": 64,
                "d_mask_dims": 22, "batch_size": 8, "eyes_mouth_priority": True},
    "sae-256": {"resolution": 256, "face_type": "whole face", "ae_dims": 256, "e_dims": 64, "d_dims": 64,
                "d_mask_dims": 22, "batch_size": 8, "eyes_mouth_priority": True},
}


SHAPE_FIELDS = frozenset({"resolution", "face_type", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "learn_mask"})
"""What fixes the network's shape: these cannot change once a model is trained."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the network's shape and its training recipe (saved as JSON)."""

    resolution: int = 96
    face_type: FaceType = "full"
    ae_dims: int = 128
    e_dims: int = 64
    d_dims: int = 64
    d_mask_dims: int = 16
    learn_mask: bool = True
    random_warp: bool = True
    colour_transfer: str = "none"
    """Training: recolour source samples like random destination faces (DeepFaceLab's ct_mode)."""
    eyes_mouth_priority: bool = False
    true_face_power: float = 0.0
    """> 0 adds a code discriminator pulling both sides' codes together (more source-like, less stable)."""
    batch_size: int = 4
    lr: float = 2e-4

    def __post_init__(self) -> None:
        check_face_type(self.face_type)
        check_mode(self.colour_transfer)
        if self.resolution % 16 or not 32 <= self.resolution <= 256:
            raise ValueError(f"resolution {self.resolution}: use a multiple of 16 from 32 to 256")
        for name in ("ae_dims", "e_dims", "d_dims", "d_mask_dims"):
            if not 4 <= getattr(self, name) <= 1024:
                raise ValueError(f"{name} {getattr(self, name)}: use 4 to 1024")
        if not 0.0 <= self.true_face_power <= 1.0:
            raise ValueError("true face power must be between 0 and 1")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError("batch size must be ≥ 1 and the learning rate > 0")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ModelConfig":
        if name not in PRESETS:
            raise ValueError(f"model preset {name!r}: use one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def with_training(self, **changes: Any) -> "ModelConfig":
        """Change what may change on resume (recipe, not shape)."""
        shape = SHAPE_FIELDS
        bad = [k for k, v in changes.items() if k in shape and v is not None and v != getattr(self, k)]
        if bad:
            raise ValueError(f"the model was built with {', '.join(f'{k} {getattr(self, k)!r}' for k in bad)}; "
                             "these cannot change when resuming: train a new model instead")
        return replace(self, **{k: v for k, v in changes.items() if v is not None and k not in shape})


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


class Downscale(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 5, stride=2, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _act(self.conv(x))


class Upscale(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(_act(self.conv(x)), 2)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(x + self.conv2(y), 0.2)


class Encoder(nn.Module):
    def __init__(self, e: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Downscale(3, e), Downscale(e, e * 2), Downscale(e * 2, e * 4),
                                    Downscale(e * 4, e * 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).flatten(1)


class Inter(nn.Module):
    def __init__(self, cin: int, ae: int, lowest: int) -> None:
        super().__init__()
        self.lowest, self.ae = lowest, ae
        self.dense1 = nn.Linear(cin, ae)
        self.dense2 = nn.Linear(ae, lowest * lowest * ae)
        self.up = Upscale(ae, ae)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x)).view(-1, self.ae, self.lowest, self.lowest)
        return self.up(x)


class Decoder(nn.Module):
    def __init__(self, cin: int, d: int, dm: int, learn_mask: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(Upscale(cin, d * 8), ResidualBlock(d * 8), Upscale(d * 8, d * 4),
                                  ResidualBlock(d * 4), Upscale(d * 4, d * 2), ResidualBlock(d * 2))
        self.rgb = nn.Conv2d(d * 2, 3, 5, padding=2)
        self.mask = nn.Sequential(Upscale(cin, dm * 8), Upscale(dm * 8, dm * 4), Upscale(dm * 4, dm * 2),
                                  nn.Conv2d(dm * 2, 1, 5, padding=2)) if learn_mask else None

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        rgb = torch.sigmoid(self.rgb(self.body(code)))
        mask = torch.sigmoid(self.mask(code)) if self.mask is not None else None
        return rgb, mask


class CodeDiscriminator(nn.Module):
    """True face: tells source codes from destination codes; the autoencoder learns to fool it."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(0.1), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(ch, 1))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


class FaceAutoencoder(nn.Module):
    """DeepFaceLab's DF architecture: ``encoder`` → ``inter`` (shared) → ``decoder_src`` / ``decoder_dst``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        lowest = config.resolution // 16
        self.encoder = Encoder(config.e_dims)
        self.inter = Inter(config.e_dims * 8 * lowest * lowest, config.ae_dims, lowest)
        self.decoder_src = Decoder(config.ae_dims, config.d_dims, config.d_mask_dims, config.learn_mask)
        self.decoder_dst = Decoder(config.ae_dims, config.d_dims, config.d_mask_dims, config.learn_mask)
        self.code_discriminator = CodeDiscriminator(config.ae_dims) if config.true_face_power > 0 else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) in 0..1 → the shared code."""
        return self.inter(self.encoder(x))

    def decode(self, code: torch.Tensor, side: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return (self.decoder_src if side == "src" else self.decoder_dst)(code)

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("code_discriminator.")]

    @torch.no_grad()
    def swap(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Destination faces drawn as the source: (rgb, source-decoder mask, destination-decoder mask)."""
        code = self.encode(x)
        rgb, mask_src = self.decoder_src(code)
        _, mask_dst = self.decoder_dst(code)
        return rgb, mask_src, mask_dst
