"""What a generation job returns: its images and A1111's ``info`` about them.

Its own module, below both the engine and the always-on scripts that receive it, so neither
imports the other to name this type.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from PIL import Image

from pipelines import __version__
from pipelines.diffusion.request import GenerationRequest

VERSION = f"atelier-{__version__}"
FACE_RESTORATION = "Face restoration"  # A1111's infotext key for restore_faces


@dataclass
class GenerationResult:
    """Images of one job with everything A1111's ``info`` JSON reports about them."""

    request: GenerationRequest
    images: list[Image.Image] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    subseeds: list[int] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model_name: str = ""
    model_hash: Optional[str] = None
    vae_name: Optional[str] = None
    interrupted: bool = False
    seconds: float = 0.0
    grid_count: int = 0  # grids before the images (A1111's index_of_first_image)

    def info(self) -> dict[str, Any]:
        """A1111's ``info`` object (the API returns it JSON-encoded)."""
        req = self.request
        return {
            "prompt": req.prompt,
            "all_prompts": [req.prompt] * len(self.seeds),
            "negative_prompt": req.negative_prompt,
            "all_negative_prompts": [req.negative_prompt] * len(self.seeds),
            "seed": self.seeds[0] if self.seeds else req.seed,
            "all_seeds": self.seeds,
            "subseed": self.subseeds[0] if self.subseeds else req.subseed,
            "all_subseeds": self.subseeds,
            "subseed_strength": req.subseed_strength,
            "width": req.width,
            "height": req.height,
            "sampler_name": req.sampler_name,
            "cfg_scale": req.cfg_scale,
            "steps": req.steps,
            "batch_size": req.batch_size,
            "restore_faces": req.restore_faces,
            "face_restoration_model": req.extra.get(FACE_RESTORATION) if req.restore_faces else None,
            "sd_model_name": self.model_name,
            "sd_model_hash": self.model_hash,
            "sd_vae_name": self.vae_name,
            "sd_vae_hash": None,
            "seed_resize_from_w": req.seed_resize_from_w,
            "seed_resize_from_h": req.seed_resize_from_h,
            "denoising_strength": req.denoising_strength,
            "extra_generation_params": dict(req.extra),
            "index_of_first_image": self.grid_count,
            "infotexts": self.infotexts,
            "styles": req.styles,
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "clip_skip": req.clip_skip,
            "is_using_inpainting_conditioning": False,
            "version": VERSION,
            "warnings": self.warnings,
            "interrupted": self.interrupted,
        }
