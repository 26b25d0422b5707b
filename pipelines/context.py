"""The application context: the one object that owns Atelier's mutable state.

Built once at start-up from the command-line configuration; the web layer, scripts and tests
reach the catalog, model manager, engine, settings and job queue only through it.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from pipelines.detect.library import DetectorLibrary
from pipelines.device import DevicePolicy
from pipelines.events import EventHub, JobStep, ModelLoaded
from pipelines.diffusion.engine import GenerationEngine, SamplerSettings
from pipelines.diffusion.alwayson import AlwaysOnRegistry
from pipelines.diffusion.taesd import setting_previewer
from pipelines.extras.upscalers import UpscalerCatalog
from pipelines.fileio import remove_stale_temp_files
from pipelines.faces.restoration import FaceRestoration
from pipelines.jobs import Job, JobQueue
from pipelines.limits import Limits
from pipelines.models.background_hash import BackgroundHasher
from pipelines.models.cache import ModelCache
from pipelines.models.catalog import ModelCatalog
from pipelines.models.download import DownloadManager
from pipelines.models.hashing import HashCache
from pipelines.models.library import ModelLibrary
from pipelines.models.manager import ModelManager
from pipelines.networks.embeddings import EmbeddingDatabase, embedding_folders
from pipelines.networks.lora import AddnetHashCache, LoraCatalog, NetworkHasher, NetworkManager, lora_folders
from pipelines.outputs import OutputWriter
from pipelines.scripts.registry import ScriptRegistry
from pipelines.settings import Settings, SettingsStore
from pipelines.styles import StyleDatabase

if TYPE_CHECKING:
    from pipelines.faces.engine import FaceEngine

log = logging.getLogger(__name__)


def force_offline() -> None:
    """Nothing is ever fetched: make the Hugging Face libraries and Gradio stay offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DIFFUSERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def quiet_libraries() -> None:
    """Keep diffusers' per-load banners and progress bars out of the server log."""
    from diffusers.utils import logging as diffusers_logging

    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def _step_event(job: Job) -> JobStep:
    p = job.control.progress
    return JobStep(job.id, job.kind, p.step, p.total_steps, p.batch, p.batch_count)


@dataclass(frozen=True)
class AppConfig:
    """Start-up choices (command-line flags); settings that users change live elsewhere."""

    data_dir: Path
    models_dir: Path
    device: str = "auto"
    precision: str = "auto"
    cpu_threads: Optional[int] = None
    hash_in_background: bool = True
    # Extra folders the UI may read, write and serve by path (--gradio-allowed-path)
    allowed_paths: tuple[Path, ...] = ()
    # The parsed command line, secrets redacted, for GET /sdapi/v1/cmd-flags
    cmd_flags: Mapping[str, Any] = field(default_factory=dict, hash=False)


class AtelierContext:
    """Owns the settings, catalog, model manager, engine and job queue."""

    def __init__(self, config: AppConfig) -> None:
        force_offline()
        quiet_libraries()
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings_store = SettingsStore(config.data_dir / "config.json")
        # Start-up problems with the user's data files (moved aside, defaults used): logged
        # where they were found, shown by the UI's banner and GET /atelier/v1/status
        self.notices: list[str] = list(self.settings_store.problems)
        settings = self.settings
        self.policy = DevicePolicy.detect(
            config.device, config.precision, ram_budget_gb=settings.model_cache_gb, cpu_threads=config.cpu_threads
        )
        self.policy.apply_threads()
        self.catalog = ModelCatalog(config.models_dir, HashCache(config.data_dir / "cache" / "hashes.json"))
        self.catalog.refresh(hash_missing=not config.hash_in_background)
        self.cache = ModelCache(self.policy.ram_budget_bytes)
        self.events = EventHub()  # extensions' callbacks: model_loaded, image_saved, app_started
        self.manager = ModelManager(
            self.catalog, self.policy, self.cache, saved_choice=lambda: self.settings.sd_model_checkpoint,
            on_model_loaded=[lambda loaded: self.events.emit(
                "model_loaded", ModelLoaded(loaded.info.title, loaded.architecture.label))])
        self.lora_catalog = LoraCatalog(lora_folders(config.models_dir))
        self.lora_catalog.refresh()
        addnet_hashes = AddnetHashCache(config.data_dir / "cache" / "hashes-addnet.json")
        self.notices += [cache.problem for cache in (self.catalog.hash_cache, addnet_hashes) if cache.problem]
        self.networks = NetworkManager(self.lora_catalog, NetworkHasher(addnet_hashes, self.catalog.hash_cache),
                                       self.cache)
        self.embeddings = EmbeddingDatabase(embedding_folders(config.models_dir), self.catalog.hash_cache)
        self.embeddings.refresh()
        self.library = ModelLibrary(self.catalog, self.lora_catalog, self.embeddings,
                                    BackgroundHasher(self.catalog.hash_cache))
        if config.hash_in_background:
            self.library.hash_missing()
        self.downloads = DownloadManager(config.models_dir, on_complete=lambda path: self.library.refresh())
        self.styles = StyleDatabase.in_data_dir(config.data_dir)
        self.writer = OutputWriter(self.outputs_dir, settings.samples_format, settings.enable_pnginfo,
                                   settings.output_folders(), settings.provenance_marks, events=self.events,
                                   sdxl_mark=settings.sdxl_watermark, sdxl_mark_video=settings.sdxl_watermark_video,
                                   c2pa=self._c2pa_signer(settings))
        for folder in {self.outputs_dir, *settings.output_folders().values()}:
            remove_stale_temp_files(folder)  # left by a process killed mid-write
        self.upscalers = UpscalerCatalog(config.models_dir, self.policy, self.cache)
        self.alwayson = AlwaysOnRegistry()  # always-on scripts (extensions, face swap) hook the engine here
        self.face_restoration = FaceRestoration(lambda: self.faces, lambda: self.settings.face_restoration_model,
                                                lambda: self.settings.code_former_weight)
        self.engine = GenerationEngine(
            self.manager, self.writer, self.networks, self.styles, self.embeddings, self.upscalers, self.alwayson,
            previewer=setting_previewer(lambda: self.settings.show_progress_type, config.models_dir, self.cache,
                                        self.policy),
            face_restoration=self.face_restoration, limits=lambda: Limits.from_settings(self.settings),
            auto_vae_precision=lambda: self.settings.auto_vae_precision,
            sampler_settings=lambda: SamplerSettings(self.settings.eta_ancestral, self.settings.eta_ddim,
                                                     self.settings.eta_noise_seed_delta))
        self.queue = JobQueue(on_step=lambda job: self.events.emit("job_step", _step_event(job)))
        self.detectors = DetectorLibrary(config.models_dir / "detectors", self.cache, self.policy)
        self.scripts = ScriptRegistry()
        if settings.sd_vae:
            try:
                self.manager.set_vae(settings.sd_vae)
            except LookupError as exc:
                self.notices.append(f"the saved VAE choice is not used ({exc}); using Automatic")
                log.warning(self.notices[-1])

    @functools.cached_property
    def tokenizer(self) -> Any:
        """The CLIP tokenizer every family shares (for the UI's token counter)."""
        from pipelines.configs import load_tokenizer

        return load_tokenizer()

    @functools.cached_property
    def faces(self) -> "FaceEngine":
        """Face detection and swap; its models load on first use, into the shared cache."""
        from pipelines.faces.engine import FaceEngine

        return FaceEngine(self.config.models_dir, self.cache, self.policy, self.writer)

    @property
    def settings(self) -> Settings:
        return self.settings_store.settings

    @property
    def outputs_dir(self) -> Path:
        custom = self.settings.outdir_samples
        return Path(custom) if custom else self.config.data_dir / "outputs"

    def apply_settings(self) -> None:
        """Push changed settings into the components that use them."""
        s = self.settings
        self.writer.root = self.outputs_dir
        self.writer.fmt = s.samples_format
        self.writer.save_infotext = s.enable_pnginfo
        self.writer.folders = s.output_folders()
        self.writer.provenance_marks = s.provenance_marks
        self.writer.sdxl_mark, self.writer.sdxl_mark_video = s.sdxl_watermark, s.sdxl_watermark_video
        self.writer.c2pa = self._c2pa_signer(s)
        self.cache.budget_bytes = int(s.model_cache_gb * (1 << 30))

    def _c2pa_signer(self, s: Settings) -> Any:
        """The writer's C2PA signer for these settings (None when off or not installed)."""
        if not s.c2pa_sign:
            return None
        from pipelines.provenance.c2pa_reader import available
        from pipelines.provenance.c2pa_signer import make_signer

        if not available():
            log.warning("c2pa_sign is on but c2pa-python is not installed: outputs are not signed")
            return None
        try:
            return make_signer(self.config.data_dir, s.c2pa_cert or None, s.c2pa_key or None)
        except (ValueError, OSError) as exc:
            log.warning("C2PA signing off: %s", exc)
            return None

    def close(self) -> None:
        self.queue.shutdown()
