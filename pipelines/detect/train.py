"""Train a detector on your own faces: Self-Blended Images by default, real fakes when you have them.

Real face pictures come from a folder (face crops or photos: the Faces engine finds the face and its
landmarks when it can). Fakes are self-blended from those reals (:mod:`pipelines.detect.sbi`) and,
with ``fake_dir``, taken from your folder of manipulated faces too. A checkpoint is written after
every epoch (resume continues from it), the validation AUC is reported per epoch, and the result
lands in ``models/detectors/<name>.safetensors`` with its sidecar so Detect can use it at once.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from pipelines.detect.crops import crop, square_crop_box
from pipelines.detect.detector import to_batch
from pipelines.detect.loader import METADATA_KEY
from pipelines.detect.sbi import self_blend
from pipelines.detect.spec import ARCHES, DetectorSpec, build_model
from pipelines.faces.types import DetectedFace
from pipelines.fileio import atomic_open, atomic_write_text
from pipelines.jobs import JobControl

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
FaceFinder = Callable[[np.ndarray], Sequence[DetectedFace]]


@dataclass(frozen=True)
class TrainConfig:
    """What ``launch.py train-detector`` and the Detect tab's form ask for."""

    real_dir: Path
    name: str
    arch: str = "efficientnet-b4"
    fake_dir: Optional[Path] = None
    epochs: int = 10
    batch_size: int = 16
    size: int = 256
    lr: float = 3e-4
    resume: bool = False
    seed: int = 0
    val_fraction: float = 0.2
    crop_scale: float = 1.3

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHES)}")
        if not self.name or any(c in self.name for c in "/\\") or self.name.startswith("."):
            raise ValueError(f"output name {self.name!r} must be a plain file name")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be ≥ 1 and batch size ≥ 2 (half real, half fake)")


@dataclass
class Face:
    image: np.ndarray
    landmarks: Optional[np.ndarray]


@dataclass
class TrainReport:
    name: str
    weights: Path
    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def val_auc(self) -> float:
        return self.epochs[-1]["val_auc"] if self.epochs else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weights": str(self.weights), "val_auc": self.val_auc, "epochs": self.epochs,
                "stopped_early": self.stopped_early}


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    from scipy.stats import rankdata

    y = np.asarray(labels)
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_faces(folder: Path, find_faces: Optional[FaceFinder], crop_scale: float) -> list[Face]:
    """Each picture's largest face, cropped with margin (with landmarks), else the picture itself."""
    faces: list[Face] = []
    for path in image_files(folder):
        try:
            rgb = np.asarray(Image.open(path).convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{path.name}: not a readable image ({exc})") from exc
        found = list(find_faces(rgb)) if find_faces is not None else []
        if not found:
            faces.append(Face(rgb, None))
            continue
        best = max(found, key=lambda f: f.width * f.height)
        box = square_crop_box(best.box, crop_scale, rgb.shape[1], rgb.shape[0])
        points = best.landmarks if best.landmarks is not None else best.kps5
        faces.append(Face(crop(rgb, box), np.asarray(points, np.float32) - np.array(box[:2], np.float32)))
    return faces


def _pair_batch(reals: Sequence[Face], fakes: Sequence[np.ndarray], rng: np.random.Generator, augment: bool
                ) -> tuple[list[np.ndarray], list[int]]:
    """Each real face and one fake: its self-blend, or half the time a given fake when there are
    some; flipped at random when training."""
    images, labels = [], []
    for face in reals:
        use_given = bool(fakes) and rng.random() < 0.5
        fake = fakes[int(rng.integers(len(fakes)))] if use_given else self_blend(face.image, face.landmarks, rng)[0]
        for image, label in ((face.image, 0), (fake, 1)):
            if augment and rng.random() < 0.5:
                image = np.ascontiguousarray(image[:, ::-1])
            images.append(image)
            labels.append(label)
    return images, labels


def checkpoint_path(work_dir: Path, name: str) -> Path:
    return work_dir / name / "last.pt"


def save_detector(model: torch.nn.Module, spec: DetectorSpec, folder: Path, name: str,
                  report: dict[str, Any]) -> Path:
    """``<name>.safetensors`` (spec in its metadata) + ``<name>.json`` sidecar + ``<name>.train.json``."""
    from safetensors.torch import save

    path = folder / f"{name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={METADATA_KEY: json.dumps(spec.to_json())})
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    atomic_write_text(folder / f"{name}.json", json.dumps(spec.to_json(), indent=2))
    atomic_write_text(folder / f"{name}.train.json", json.dumps(report, indent=2))
    return path


def _evaluate(model: torch.nn.Module, spec: DetectorSpec, images: Sequence[np.ndarray], labels: Sequence[int],
              batch_size: int) -> dict[str, float]:
    from pipelines.detect.gradcam import fake_logit

    model.eval()
    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(to_batch(images[start:start + batch_size], spec))
            scores += torch.sigmoid(fake_logit(logits)).tolist()
    predicted = np.asarray(scores) >= 0.5
    return {"val_auc": roc_auc(labels, scores), "val_acc": float(np.mean(predicted == np.asarray(labels, bool)))}


def train_detector(config: TrainConfig, models_dir: Path, work_dir: Path, find_faces: Optional[FaceFinder] = None,
                   control: Optional[JobControl] = None, log: Callable[[str], None] = print) -> TrainReport:
    """Train (or resume), checkpoint each epoch, report validation AUC, write the usable detector."""
    control = control or JobControl()
    rng_py = random.Random(config.seed)
    reals = load_faces(config.real_dir, find_faces, config.crop_scale)
    given_fakes = [f.image for f in load_faces(config.fake_dir, find_faces, config.crop_scale)] \
        if config.fake_dir else []
    if len(reals) < 2:
        raise ValueError(f"{config.real_dir}: need at least 2 real faces (one for validation)")
    order = list(range(len(reals)))
    rng_py.shuffle(order)
    n_val = max(1, int(round(len(reals) * config.val_fraction)))
    val_reals, train_reals = [reals[i] for i in order[:n_val]], [reals[i] for i in order[n_val:]]
    n_fake_val = int(round(len(given_fakes) * config.val_fraction))
    val_fakes, train_fakes = given_fakes[:n_fake_val], given_fakes[n_fake_val:]
    val_images, val_labels = _pair_batch(val_reals, val_fakes, np.random.default_rng(config.seed + 1), False)

    spec = DetectorSpec(arch=config.arch, input_size=config.size, crop_scale=config.crop_scale,
                        layout=f"atelier-{'xception' if config.arch == 'xception' else 'efficientnet'}")
    torch.manual_seed(config.seed)
    model = build_model(spec)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    ckpt = checkpoint_path(work_dir, config.name)
    history: list[dict[str, float]] = []
    first_epoch = 0
    if config.resume:
        if not ckpt.is_file():
            raise ValueError(f"nothing to resume: no checkpoint at {ckpt}")
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        if saved["config"]["arch"] != config.arch or saved["config"]["size"] != config.size:
            raise ValueError(f"the checkpoint was trained as {saved['config']['arch']} at {saved['config']['size']} px")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        history, first_epoch = list(saved["history"]), int(saved["epoch"]) + 1
        log(f"resuming {config.name} after epoch {first_epoch}")
    half = max(1, config.batch_size // 2)
    steps = math.ceil(len(train_reals) / half)
    control.start(steps, batch_count=config.epochs, textinfo=f"training {config.name}")
    control.progress.batch = first_epoch
    stopped = False
    for epoch in range(first_epoch, config.epochs):
        model.train()
        rng = np.random.default_rng([config.seed, epoch])
        shuffled = [train_reals[i] for i in rng.permutation(len(train_reals))]
        losses = []
        for step in range(steps):
            if control.should_stop():
                stopped = True
                break
            images, labels = _pair_batch(shuffled[step * half:(step + 1) * half], train_fakes, rng, True)
            loss = F.cross_entropy(model(to_batch(images, spec)), torch.tensor(labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().item())
            control.step(step + 1, batch=epoch)
        if stopped:
            log(f"stopped during epoch {epoch + 1}; the checkpoint after epoch {epoch} is kept for --resume")
            break
        metrics = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                   **_evaluate(model, spec, val_images, val_labels, config.batch_size)}
        history.append(metrics)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {metrics['loss']:.4f}, "
            f"validation AUC {metrics['val_auc']:.3f}, accuracy {metrics['val_acc']:.3f}")
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(ckpt, "wb") as handle:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "history": history, "config": {**asdict(config), "real_dir": str(config.real_dir),
                                                       "fake_dir": str(config.fake_dir)}}, handle)
    report = TrainReport(config.name, models_dir / "detectors" / f"{config.name}.safetensors", history, stopped)
    if history:
        save_detector(model.eval(), spec, models_dir / "detectors", config.name, report.to_json())
    return report


def face_finder(models_dir: Path, data_dir: Path, device: str = "auto") -> Optional[FaceFinder]:
    """The Faces engine's detector for training pictures (landmarks for the blend masks), or None
    when no face model is usable: pictures are then taken as ready-made face crops."""
    from pipelines.device import DevicePolicy
    from pipelines.faces.engine import FaceEngine
    from pipelines.faces.errors import FaceError
    from pipelines.models.cache import ModelCache
    from pipelines.outputs import OutputWriter

    policy = DevicePolicy.detect(device)
    engine = FaceEngine(models_dir, ModelCache(policy.ram_budget_bytes), policy, OutputWriter(data_dir / "outputs"))

    def find(image: np.ndarray) -> Sequence[DetectedFace]:
        try:
            return engine.detect(image, embed=False)
        except FaceError:
            return []

    return find


def run_cli(args: Any) -> int:
    """``python launch.py train-detector ...``: a tqdm progress bar, the per-epoch report, exit code."""
    from tqdm import tqdm

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = TrainConfig(real_dir=args.real, fake_dir=args.fake, arch=args.arch, epochs=args.epochs,
                             batch_size=args.batch_size, size=args.size, lr=args.lr, seed=args.seed,
                             resume=args.resume, name=args.out or f"{args.arch}-sbi")
        bar = tqdm(unit="step", dynamic_ncols=True)
        control = JobControl()

        def show(progress: Any) -> None:
            bar.total = progress.total_steps * progress.batch_count
            bar.n = progress.batch * progress.total_steps + progress.step
            bar.set_description(f"epoch {progress.batch + 1}/{progress.batch_count}")
            bar.refresh()

        control.listeners.append(show)
        report = train_detector(config, args.models_dir, args.data_dir / "train-detector",
                                face_finder(args.models_dir, args.data_dir, args.device), control,
                                log=tqdm.write)
        bar.close()
    except ValueError as exc:
        print(f"train-detector: {exc}")
        return 2
    print(f"wrote {report.weights} (validation AUC {report.val_auc:.3f}); choose '{report.weights.name}' in Detect")
    return 0
