"""Train a face model: the loop, its saves, previews and loss log, as a job on the app's queue.

Every ``preview_every`` iterations the job's progress carries DeepFaceLab's preview grid (and
``preview.png`` / ``loss.png`` are rewritten in the model folder); every ``save_minutes`` and when
stopped, the model is saved (and a backup kept). A crash loses only the iterations since the last
save; resuming continues from the saved iteration with the optimizer's moments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from pipelines.dfl.losses import mask_loss, reconstruction
from pipelines.dfl.model import FaceAutoencoder, ModelConfig
from pipelines.dfl.pack import Faceset, load_faceset
from pipelines.dfl.preview import loss_plot, preview_grid
from pipelines.dfl.samples import Batch, SampleSource
from pipelines.dfl.store import (CONFIG, TrainingState, backup, load_model, load_optimizer, read_config,
                                 save_model)
from pipelines.dfl.workspace import Side, Workspace, WorkspaceError, disk_space
from pipelines.jobs import JobControl

MIN_FACES = 8
"""Fewer faces than this per side cannot teach a decoder a person (it memorises a few pictures)."""
PREVIEW_ROWS = 4
JOB_KIND = "train-face"


@dataclass(frozen=True)
class TrainOptions:
    """How long and how often; not part of the model (may differ on every run)."""

    iterations: int = 0
    """Stop when the model reaches this many iterations in total (0: run until stopped)."""
    save_minutes: float = 5.0
    preview_every: int = 50
    backups: int = 3
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.preview_every < 0 or self.backups < 0 or self.log_every < 1:
            raise ValueError("iterations, preview interval and backups must be ≥ 0, the log interval ≥ 1")
        if self.save_minutes <= 0:
            raise ValueError("save interval must be more than 0 minutes")


@dataclass
class TrainReport:
    name: str
    folder: Path
    start_iteration: int
    iteration: int
    seconds: float
    loss_src: float
    loss_dst: float
    stopped: bool
    saves: int
    history: list[list[float]] = field(default_factory=list)

    @property
    def iterations_per_second(self) -> float:
        done = self.iteration - self.start_iteration
        return done / self.seconds if self.seconds > 0 else 0.0

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "folder": str(self.folder), "iteration": self.iteration,
                "iterations_run": self.iteration - self.start_iteration, "seconds": round(self.seconds, 2),
                "it_per_s": round(self.iterations_per_second, 3), "loss_src": round(self.loss_src, 5),
                "loss_dst": round(self.loss_dst, 5), "stopped": self.stopped, "saves": self.saves}


def check_faceset(faceset: Faceset, side: Side, config: ModelConfig) -> None:
    """Enough faces, and of the face type the model is built for."""
    if len(faceset) < MIN_FACES:
        raise WorkspaceError(f"the {side} faceset has {len(faceset)} face{'s' if len(faceset) != 1 else ''}; "
                             f"training needs at least {MIN_FACES} per side (extract from a longer video or "
                             "more pictures)")
    if faceset.face_type != config.face_type:
        raise WorkspaceError(f"the model is built for {config.face_type!r} faces but the {side} faceset was "
                             f"extracted as {faceset.face_type!r}: extract it again with face type "
                             f"{config.face_type!r} (or train a new model)")


def prepare_config(folder: Path, preset: str = "quick96", **changes: Any) -> tuple[ModelConfig, bool]:
    """(config, resuming): the saved model's with recipe changes, or a new one from ``preset``."""
    if (folder / CONFIG).is_file():
        saved, _ = read_config(folder)
        return saved.with_training(**changes), True
    return ModelConfig.preset(preset, **changes), False


class Trainer:
    """One training run of one model on one workspace."""

    def __init__(self, ws: Workspace, folder: Path, config: ModelConfig, resume: bool, device: torch.device,
                 options: TrainOptions = TrainOptions()) -> None:
        self.ws, self.folder, self.config, self.options, self.device = ws, folder, config, options, device
        src, dst = load_faceset(ws, "src"), load_faceset(ws, "dst")
        check_faceset(src, "src", config)
        check_faceset(dst, "dst", config)
        torch.manual_seed(options.seed)
        if resume:
            # The saved weights in a network built with the new recipe (same shape; the true-face
            # discriminator may come or go).
            saved, self.state = load_model(folder)
            self.model = FaceAutoencoder(config)
            self.model.load_state_dict(saved.state_dict(), strict=False)
            self.model.to(device)
        else:
            self.model, self.state = FaceAutoencoder(config).to(device), TrainingState()
        self.optimizer = torch.optim.Adam(self.model.autoencoder_parameters(), lr=config.lr, betas=(0.5, 0.999))
        self.d_optimizer = torch.optim.Adam(self.model.code_discriminator.parameters(), lr=config.lr,
                                            betas=(0.5, 0.999)) if self.model.code_discriminator else None
        if resume:
            load_optimizer(folder, self.optimizer)
            if self.d_optimizer is not None:
                load_optimizer(folder, self.d_optimizer, "-discriminator")
        seed = options.seed + self.state.iteration
        self.src = SampleSource(src, config.resolution, config.random_warp, seed)
        self.dst = SampleSource(dst, config.resolution, config.random_warp, seed + 1)
        self._pending: list[tuple[float, float]] = []

    def _to(self, batch: Batch) -> Batch:
        return Batch(*(t.to(self.device) for t in (batch.inputs, batch.targets, batch.masks, batch.parts)))

    def step(self) -> tuple[float, float]:
        """One iteration on a batch of each side: (src loss, dst loss)."""
        cfg = self.config
        src = self._to(self.src.batch(cfg.batch_size, self.dst, cfg.colour_transfer))
        dst = self._to(self.dst.batch(cfg.batch_size))
        self.model.train()
        code_src, code_dst = self.model.encode(src.inputs), self.model.encode(dst.inputs)
        pred_src, mask_src = self.model.decode(code_src, "src")
        pred_dst, mask_dst = self.model.decode(code_dst, "dst")
        parts = cfg.eyes_mouth_priority
        loss_src = reconstruction(pred_src, src.targets, src.masks, cfg.resolution, src.parts if parts else None) \
            + mask_loss(mask_src, src.masks)
        loss_dst = reconstruction(pred_dst, dst.targets, dst.masks, cfg.resolution, dst.parts if parts else None) \
            + mask_loss(mask_dst, dst.masks)
        loss = loss_src + loss_dst
        disc = self.model.code_discriminator
        if disc is not None:
            judged = disc(code_src)
            loss = loss + cfg.true_face_power * torch.nn.functional.binary_cross_entropy_with_logits(
                judged, torch.ones_like(judged))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if disc is not None and self.d_optimizer is not None:
            real, fake = disc(code_dst.detach()), disc(code_src.detach())
            d_loss = 0.5 * (torch.nn.functional.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                            + torch.nn.functional.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_optimizer.step()
        self.state.iteration += 1
        values = (float(loss_src.detach()), float(loss_dst.detach()))
        self._pending.append(values)
        if len(self._pending) >= self.options.log_every:
            self.flush_log()
        return values

    def flush_log(self) -> None:
        if self._pending:
            mean = np.mean(self._pending, axis=0)
            self.state.history.append([self.state.iteration, round(float(mean[0]), 5), round(float(mean[1]), 5)])
            self._pending = []

    @torch.no_grad()
    def preview(self) -> Any:
        """DeepFaceLab's grid on the same faces every time, also written to ``preview.png``."""
        self.model.eval()
        rows = min(PREVIEW_ROWS, len(self.src), len(self.dst))
        src, dst = self.src.fixed(rows).to(self.device), self.dst.fixed(rows).to(self.device)
        code_src, code_dst = self.model.encode(src), self.model.encode(dst)
        src_src, _ = self.model.decode(code_src, "src")
        dst_dst, _ = self.model.decode(code_dst, "dst")
        dst_src, _ = self.model.decode(code_dst, "src")
        grid = preview_grid(src, src_src, dst, dst_dst, dst_src, caption=f"iteration {self.state.iteration}")
        self.folder.mkdir(parents=True, exist_ok=True)
        grid.save(self.folder / "preview.png")
        loss_plot(self.state.history).save(self.folder / "loss.png")
        return grid

    def save(self, keep_backup: bool) -> None:
        self.flush_log()
        optimizers = {"": self.optimizer}
        if self.d_optimizer is not None:
            optimizers["-discriminator"] = self.d_optimizer
        with disk_space(f"the model {self.folder}"):
            save_model(self.folder, self.model, self.state, optimizers)
            loss_plot(self.state.history).save(self.folder / "loss.png")
            if keep_backup:
                backup(self.folder, self.state.iteration, self.options.backups)


def _status(trainer: Trainer, rate: float, losses: tuple[float, float]) -> str:
    return (f"Training {trainer.folder.name}: iteration {trainer.state.iteration}, {rate:.2f} it/s, "
            f"loss src {losses[0]:.4f} dst {losses[1]:.4f}")


def run_training(trainer: Trainer, control: Optional[JobControl] = None,
                 log: Callable[[str], None] = lambda text: None) -> TrainReport:
    """Iterate until the target iteration or a stop; save on the timer and at the end."""
    control = control or JobControl()
    opts, state = trainer.options, trainer.state
    start_iteration, started = state.iteration, time.monotonic()
    last_save, saves, losses, stopped = started, 0, (float("nan"), float("nan")), False
    target = opts.iterations
    if target and state.iteration >= target:
        raise WorkspaceError(f"the model is already at iteration {state.iteration} (target {target}): "
                             "give a higher target, or 0 to train until stopped")
    control.start(target or 0, textinfo=f"Training {trainer.folder.name}")
    while True:
        if control.interrupted.is_set():
            stopped = True
            break
        losses = trainer.step()
        now = time.monotonic()
        rate = (state.iteration - start_iteration) / max(now - started, 1e-9)
        control.progress.textinfo = _status(trainer, rate, losses)
        preview = trainer.preview() if opts.preview_every and state.iteration % opts.preview_every == 0 else None
        control.step(state.iteration - start_iteration if not target else state.iteration, preview=preview)
        if now - last_save >= opts.save_minutes * 60:
            state.seconds += now - last_save
            last_save = now
            trainer.save(keep_backup=True)
            saves += 1
            log(f"saved at iteration {state.iteration}")
        if target and state.iteration >= target:
            break
    state.seconds += time.monotonic() - last_save
    trainer.save(keep_backup=False)
    grid = trainer.preview()
    control.step(control.progress.step, preview=grid)
    seconds = time.monotonic() - started
    log(f"{'stopped' if stopped else 'finished'} at iteration {state.iteration}: "
        f"{(state.iteration - start_iteration) / max(seconds, 1e-9):.2f} it/s, loss src {losses[0]:.4f} "
        f"dst {losses[1]:.4f}; saved {trainer.folder}")
    return TrainReport(trainer.folder.name, trainer.folder, start_iteration, state.iteration, seconds, losses[0],
                       losses[1], stopped, saves + 1, list(state.history))
