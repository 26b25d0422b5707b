"""User settings, persisted in ``<data-dir>/config.json`` under A1111's option names.

A1111 clients read and write ``/sdapi/v1/options`` with these keys, so the names are kept.
Every known option is checked for type and range on every write (and on load), so one bad
value can never poison the server; unknown keys (A1111 clients send their extensions'
options) are ignored and named in the log, never stored, so ``config.json`` stays small.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.fileio import atomic_write_text, read_json_object

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4096  # the longest text option (a path, a model name)
MAX_VIDEO_MB = 1 << 20  # 1 TB: faces_video_max_mb's ceiling


class Settings(BaseModel):
    """Every setting with its default; A1111 keys where A1111 has one."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True, allow_inf_nan=False,
                              str_max_length=MAX_TEXT_CHARS)

    sd_model_checkpoint: Optional[str] = None
    sd_vae: str = "Automatic"
    CLIP_stop_at_last_layers: int = Field(1, ge=1, le=12)
    samples_save: bool = True
    samples_format: Literal["png", "jpg", "webp"] = "png"
    enable_pnginfo: bool = True
    outdir_samples: str = Field("", description="Empty: <data-dir>/outputs")
    outdir_txt2img_samples: str = Field("", description="Empty: <outputs>/txt2img-images")
    outdir_img2img_samples: str = Field("", description="Empty: <outputs>/img2img-images")
    outdir_extras_samples: str = Field("", description="Empty: <outputs>/extras-images")
    outdir_txt2img_grids: str = Field("", description="Empty: <outputs>/txt2img-grids")
    outdir_img2img_grids: str = Field("", description="Empty: <outputs>/img2img-grids")
    outdir_save: str = Field("", description="Empty: <outputs>/saved (the Save button under the gallery)")
    send_seed: bool = True
    send_size: bool = True
    eta_ancestral: float = Field(1.0, ge=0.0, le=10.0, description="Eta of the ancestral / SDE samplers")
    eta_ddim: float = Field(0.0, ge=0.0, le=10.0, description="Eta of DDIM")
    eta_noise_seed_delta: int = Field(0, ge=0, description="ENSD: added to the seed of the samplers' own noise")
    auto_vae_precision: bool = Field(
        True, description="A half-precision VAE decode that makes NaNs is done again in float32 (A1111's --no-half-vae)")
    return_grid: bool = Field(True, description="Show the grid of a batch first among its images")
    grid_save: bool = Field(True, description="Always save the grid of a batch (txt2img-grids / img2img-grids)")
    live_previews_enable: bool = True
    show_progress_every_n_steps: int = Field(5, ge=0, le=100)
    show_progress_type: Literal["Approx cheap", "TAESD"] = Field(
        "Approx cheap", description="TAESD needs taesd_decoder / taesdxl_decoder in models/VAE-taesd")
    model_cache_gb: float = Field(8.0, ge=0.0, le=1024.0, description="RAM budget for cached models")
    default_sampler: str = "DPM++ 2M"
    default_scheduler: str = "Automatic"
    img2img_fix_steps: bool = False
    provenance_marks: bool = Field(True, description="Invisible provenance marks (Atelier's, and SDXL's where on) in every output")
    sdxl_watermark: bool = Field(True, description="Also the SDXL-compatible watermark in images (does not survive JPEG)")
    c2pa_sign: bool = Field(False, description="Sign every saved image with a C2PA manifest (c2pa-python)")
    c2pa_cert: str = Field("", description="PEM certificate chain for C2PA signing; empty: a local self-issued one")
    c2pa_key: str = Field("", description="PEM private key of that certificate")
    sdxl_watermark_video: bool = Field(
        False, description="Also the SDXL-compatible watermark in video frames (never survives h264; ~0.26 s per 720p frame)")
    face_restoration_model: Optional[str] = Field(
        None, description="restore_faces: a file of models/facerestore, or a family (GFPGAN, CodeFormer); empty: the first")
    code_former_weight: float = Field(0.5, ge=0.0, le=1.0, description="restore_faces with CodeFormer: its weight "
                                      "(0 strongest restoration, 1 closest to the input)")
    faces_notice_acknowledged: bool = Field(False, description="The Faces tab's responsible-use notice was read")
    faces_video_max_mb: float = Field(1024.0, gt=0, le=MAX_VIDEO_MB,
                                      description="Largest video the API accepts for a face swap (MB)")
    # Resource limits (pipelines/limits.py): one request must never exhaust the server
    limit_request_body_mb: float = Field(64.0, gt=0, le=4096, description="Largest request body (MB); larger: 413")
    limit_input_images: int = Field(16, ge=1, le=1000, description="Most images one request may send")
    limit_input_megapixels: float = Field(
        67.2, gt=0, le=1024, description="Most pixels of all images one request sends, read from their headers")
    limit_output_megapixels: float = Field(
        8.4, gt=0, le=1024, description="Most pixels one batch makes: width x height x batch size, at the final size")
    limit_prompt_chars: int = Field(20000, ge=100, le=1_000_000, description="Longest prompt / negative prompt")
    limit_batch_size: int = Field(16, ge=1, le=64, description="Largest batch size")
    limit_n_iter: int = Field(100, ge=1, le=1000, description="Largest batch count")

    @field_validator("outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples", "outdir_extras_samples",
                     "outdir_txt2img_grids", "outdir_img2img_grids", "outdir_save")
    @classmethod
    def _folder_not_file(cls, value: str) -> str:
        """An output folder that is a file would fail every later save: refuse it when set."""
        if value.strip() and Path(value.strip()).expanduser().exists() and not Path(value.strip()).expanduser().is_dir():
            raise ValueError(f"{value!r} is a file, not a folder: choose a folder (or leave it empty)")
        return value

    @field_validator("default_sampler")
    @classmethod
    def _known_sampler(cls, value: str) -> str:
        from pipelines.diffusion.samplers import resolve_sampler

        resolve_sampler(value)  # UnknownSamplerError (a ValueError) lists the valid names
        return value

    @field_validator("default_scheduler")
    @classmethod
    def _known_schedule(cls, value: str) -> str:
        from pipelines.diffusion.samplers import SCHEDULES, find_schedule

        if find_schedule(value) is None:
            raise ValueError(f"unknown schedule type {value!r}; valid: {', '.join(s.label for s in SCHEDULES)}")
        return value

    def output_folders(self) -> dict[str, Path]:
        """The output folders the user moved, keyed like OutputWriter's "<kind>-images"."""
        named = {
            "txt2img-images": self.outdir_txt2img_samples, "img2img-images": self.outdir_img2img_samples,
            "extras-images": self.outdir_extras_samples, "faces": self.outdir_extras_samples,  # face swaps are extras
            "txt2img-grids": self.outdir_txt2img_grids,
            "img2img-grids": self.outdir_img2img_grids, "saved": self.outdir_save,
        }
        return {key: Path(value).expanduser() for key, value in named.items() if value.strip()}

    def preview_every(self) -> int:
        """Steps between live previews of any job, UI or API (0: none), as A1111's
        ``live_previews_enable`` + ``show_progress_every_n_steps``."""
        return self.show_progress_every_n_steps if self.live_previews_enable else 0


def known_keys(changes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(changes to known options, sorted unknown keys)``."""
    known = {k: v for k, v in changes.items() if k in Settings.model_fields}
    return known, sorted(str(k) for k in changes if k not in Settings.model_fields)


class SettingsStore:
    """Loads, validates, updates and atomically saves :class:`Settings`.

    ``problems`` says what was wrong with the file at start-up (moved aside, values dropped),
    for the log and the UI's notice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self.settings = self._load()

    def _load(self) -> Settings:
        data, problem = read_json_object(self.path)
        if problem:
            self.problems.append(problem)
        known, unknown = known_keys(data)
        if unknown:
            log.info("%s: ignoring unknown options %s (dropped at the next save)", self.path.name,
                     ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else ""))
        try:
            return Settings.model_validate(known)
        except ValidationError as exc:
            valid, dropped = {}, []
            for key, value in known.items():
                try:
                    Settings.model_validate({key: value})
                    valid[key] = value
                except ValidationError:
                    dropped.append(key)
            notice = (f"{self.path} had invalid values for {', '.join(dropped)}; their defaults are used "
                      f"({_first_error(exc)})")
            log.warning(notice)
            self.problems.append(notice)
            return Settings.model_validate(valid)

    def validate(self, changes: dict[str, Any]) -> Settings:
        """The settings ``changes`` would give (ValidationError naming each bad known option);
        unknown keys are left out. Saves nothing."""
        known, _ = known_keys(changes)
        return Settings.model_validate({**self.settings.model_dump(), **known})

    def update(self, changes: dict[str, Any]) -> Settings:
        """Validate all ``changes`` together, then apply and save them (all or nothing); unknown
        keys are not stored, and the log names them."""
        known, unknown = known_keys(changes)
        if unknown:
            log.info("options ignored (not Atelier options): %s", ", ".join(k[:80] for k in unknown[:50]))
        with self._lock:
            self.settings = self.validate(known)
            self.save_locked()
            return self.settings

    def reset(self) -> Settings:
        with self._lock:
            self.settings = Settings()
            self.save_locked()
            return self.settings

    def save_locked(self) -> None:
        atomic_write_text(self.path, json.dumps(self.settings.model_dump(), indent=2, sort_keys=True, allow_nan=False))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg', '')}"
