"""Train a detector on your own faces: Self-Blended Images by default, real fakes when you have them.

Real face pictures come from a folder (face crops or photos: the Faces engine finds the face and its
landmarks when it can). Fakes are self-blended from those reals (:mod:`pipelines.detect.sbi`) and,
with ``fake_dir``, taken from your folder of manipulated faces too.

Built so that it cannot ship a model that lies:

* validation people never appear in training (:mod:`pipelines.detect.split`: sub-folders name
  people, else face embeddings are clustered);
* BatchNorm statistics are recalibrated on the final weights before every evaluation, or kept
  frozen when fine-tuning pretrained weights (:mod:`pipelines.detect.batchnorm`);
* both classes get the same augmentations (:mod:`pipelines.detect.augment`), reals included in
  the colour grade SBI gives its fakes;
* training stops when validation AUC has not improved for ``patience`` epochs and keeps the best
  epoch's weights;
* the model is installed in ``models/detectors/`` only when its validation AUC reaches
  ``min_val_auc`` *and* a one-sided Mann-Whitney test puts it above chance (p < 0.01); otherwise it stays in
  the work folder and the report says why.

A checkpoint is written after every epoch (resume continues from it).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from pipelines.detect import batchnorm
from pipelines.detect.augment import augment, recolour_like_sbi
from pipelines.detect.crops import crop, square_crop_box
from pipelines.detect.detector import to_batch
from pipelines.detect.loader import METADATA_KEY, load_for_training
from pipelines.detect.metrics import auc_p_value, roc_auc
from pipelines.detect.sbi import self_blend
from pipelines.detect.spec import ARCHES, DetectorSpec, build_model
from pipelines.detect.split import Identities, find_identities, split_by_identity
from pipelines.faces.types import DetectedFace
from pipelines.fileio import atomic_open, atomic_write_text
from pipelines.jobs import JobControl

__all__ = ["TrainConfig", "TrainReport", "roc_auc", "train_detector"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
FaceFinder = Callable[[np.ndarray], Sequence[DetectedFace]]
_RECALIBRATION_BATCHES = 16
MAX_P_VALUE = 0.01  # Mann-Whitney: the validation AUC must be this unlikely under "no signal"


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
    init: Optional[Path] = None
    """Weights to start from (any layout Detect loads: ImageNet EfficientNet, DeepfakeBench, SBI,
    DFDC, Atelier); the architecture is then the file's. None: from scratch."""
    freeze_bn: Optional[bool] = None
    """Keep BatchNorm statistics fixed; default: yes when starting from ``init``."""
    sbi: bool = True
    """Self-blend the reals into fakes; False trains on ``fake_dir`` alone."""
    augment: bool = True
    patience: int = 3
    min_val_auc: float = 0.7

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHES)}")
        if not self.name or any(c in self.name for c in "/\\") or self.name.startswith("."):
            raise ValueError(f"output name {self.name!r} must be a plain file name")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be ≥ 1 and batch size ≥ 2 (half real, half fake)")
        if not self.sbi and self.fake_dir is None:
            raise ValueError("without self-blended fakes a folder of fakes is needed")
        if not 0.0 < self.val_fraction < 1.0 or self.patience < 1 or not 0.5 <= self.min_val_auc <= 1.0:
            raise ValueError("val_fraction must be in (0, 1), patience ≥ 1 and min_val_auc in [0.5, 1]")

    @property
    def frozen_batchnorm(self) -> bool:
        return self.init is not None if self.freeze_bn is None else self.freeze_bn


@dataclass
class Face:
    image: np.ndarray
    landmarks: Optional[np.ndarray]
    path: Optional[Path] = None
    embedding: Optional[np.ndarray] = None
    embedding_model: Optional[str] = None


@dataclass
class TrainReport:
    name: str
    weights: Path
    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    installed: bool = False
    refusal: Optional[str] = None
    """Why the model was not installed as a detector (None when it was)."""
    best_epoch: Optional[int] = None
    class_balance: dict[str, dict[str, int]] = field(default_factory=dict)
    identities: dict[str, Any] = field(default_factory=dict)
    batchnorm: str = ""
    init: Optional[str] = None

    @property
    def best(self) -> dict[str, float]:
        if not self.epochs:
            return {}
        if self.best_epoch is None:
            return self.epochs[-1]
        return next(e for e in self.epochs if e["epoch"] == self.best_epoch)

    @property
    def val_auc(self) -> float:
        return self.best.get("val_auc", float("nan"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weights": str(self.weights), "installed": self.installed,
                "refusal": self.refusal, "val_auc": self.val_auc, "best_epoch": self.best_epoch,
                "epochs": self.epochs, "stopped_early": self.stopped_early, "class_balance": self.class_balance,
                "identities": self.identities, "batchnorm": self.batchnorm, "init": self.init}


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_faces(folder: Path, find_faces: Optional[FaceFinder], crop_scale: float) -> list[Face]:
    """Each picture's largest face, cropped with margin (with landmarks and its identity
    embedding when the finder gives them), else the picture itself."""
    faces: list[Face] = []
    for path in image_files(folder):
        try:
            rgb = np.asarray(Image.open(path).convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{path.name}: not a readable image ({exc})") from exc
        found = list(find_faces(rgb)) if find_faces is not None else []
        if not found:
            faces.append(Face(rgb, None, path))
            continue
        best = max(found, key=lambda f: f.width * f.height)
        box = square_crop_box(best.box, crop_scale, rgb.shape[1], rgb.shape[0])
        points = best.landmarks if best.landmarks is not None else best.kps5
        faces.append(Face(crop(rgb, box), np.asarray(points, np.float32) - np.array(box[:2], np.float32), path,
                          best.embedding, best.embedding_model))
    return faces


def _identities(config: TrainConfig, reals: Sequence[Face], fakes: Sequence[Face]) -> Identities:
    """One identity per face over reals and fakes together (a swap of person A in training and
    A's real face in validation would leak A too)."""
    files = [f.path for f in [*reals, *fakes]]
    roots = [config.real_dir] * len(reals) + [config.fake_dir] * len(fakes)
    labels: list[str] = []
    for root in dict.fromkeys(roots):
        members = [p for p, r in zip(files, roots) if r == root]
        found = find_identities(members, root, [], None)
        if found.method != "folders":
            break
        labels += list(found.labels)
    else:
        return Identities(tuple(labels), "folders")
    everyone = [*reals, *fakes]
    family = everyone[0].embedding_model if everyone else None
    return find_identities(files, config.real_dir, [f.embedding for f in everyone], family)


def _pairs(reals: Sequence[Face], fakes: Sequence[Face], rng: np.random.Generator, sbi: bool, train: bool
           ) -> tuple[list[np.ndarray], list[int]]:
    """Each real face and one fake: its self-blend or, half the time when there are some (always
    without SBI), a given fake; with ``train``, both augmented alike."""
    images, labels = [], []
    for face in reals:
        use_given = bool(fakes) and (not sbi or rng.random() < 0.5)
        fake = fakes[int(rng.integers(len(fakes)))].image if use_given else self_blend(face.image, face.landmarks, rng)[0]
        real = recolour_like_sbi(face.image, rng) if train and sbi else face.image
        for image, label in ((real, 0), (fake, 1)):
            images.append(augment(image, rng) if train else image)
            labels.append(label)
    return images, labels


def checkpoint_path(work_dir: Path, name: str) -> Path:
    return work_dir / name / "last.pt"


def save_detector(model: torch.nn.Module, spec: DetectorSpec, folder: Path, name: str,
                  report: dict[str, Any]) -> Path:
    """``<name>.safetensors`` (spec in its metadata) + ``<name>.json`` sidecar + ``<name>.train.json``."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={METADATA_KEY: json.dumps(spec.to_json())})
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    atomic_write_text(folder / f"{name}.json", json.dumps(spec.to_json(), indent=2))
    atomic_write_text(folder / f"{name}.train.json", json.dumps(report, indent=2))
    return path


def _scores(model: torch.nn.Module, spec: DetectorSpec, images: Sequence[np.ndarray], batch_size: int) -> list[float]:
    from pipelines.detect.gradcam import fake_logit

    model.eval()
    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(to_batch(images[start:start + batch_size], spec))
            scores += torch.sigmoid(fake_logit(logits)).tolist()
    return scores


def _evaluate(model: torch.nn.Module, spec: DetectorSpec, images: Sequence[np.ndarray], labels: Sequence[int],
              batch_size: int) -> dict[str, float]:
    scores = np.asarray(_scores(model, spec, images, batch_size))
    y = np.asarray(labels)
    return {"val_auc": roc_auc(labels, scores), "val_p": auc_p_value(labels, scores),
            "val_acc": float(np.mean((scores >= 0.5) == y.astype(bool))),
            "val_score_real": float(scores[y == 0].mean()), "val_score_fake": float(scores[y == 1].mean())}


def refusal_reason(best: dict[str, float], min_auc: float) -> Optional[str]:
    """Why a model with this best validation epoch must not be installed (None: it may)."""
    if not best:
        return "no epoch finished"
    auc, p = best["val_auc"], best["val_p"]
    if math.isnan(auc):
        return "the validation set has one class only"
    if auc < min_auc:
        return (f"validation AUC {auc:.3f} (on people it never trained on) is below the required {min_auc:.2f}: "
                "it would not tell real from fake faces")
    if not p < MAX_P_VALUE:
        return (f"validation AUC {auc:.3f}, but a model that guesses would score that high with probability "
                f"{p:.3f} on a validation set this small: add pictures of more people")
    return None


def _initial_model(config: TrainConfig) -> tuple[torch.nn.Module, DetectorSpec]:
    if config.init is None:
        spec = DetectorSpec(arch=config.arch, input_size=config.size, crop_scale=config.crop_scale,
                            layout=f"atelier-{'xception' if config.arch == 'xception' else 'efficientnet'}")
        torch.manual_seed(config.seed)
        return build_model(spec), spec
    model, spec, _ = load_for_training(config.init)
    family = "xception" if spec.arch == "xception" else "efficientnet"
    return model, replace(spec, input_size=config.size, layout=f"atelier-{family}", threshold=0.5)


def train_detector(config: TrainConfig, models_dir: Path, work_dir: Path, find_faces: Optional[FaceFinder] = None,
                   control: Optional[JobControl] = None, log: Callable[[str], None] = print) -> TrainReport:
    """Train (or resume) with an identity-disjoint validation set, stop early on its AUC, and
    install the best epoch's model only when it does better than chance (see the module doc)."""
    control = control or JobControl()
    reals = load_faces(config.real_dir, find_faces, config.crop_scale)
    given = load_faces(config.fake_dir, find_faces, config.crop_scale) if config.fake_dir else []
    if len(reals) < 2:
        raise ValueError(f"{config.real_dir}: need at least 2 real faces (one for validation)")
    identities = _identities(config, reals, given)
    train_idx, val_idx = split_by_identity(identities.labels, config.val_fraction, config.seed)
    everyone = [*reals, *given]
    is_real = [i < len(reals) for i in range(len(everyone))]
    train_reals = [everyone[i] for i in train_idx if is_real[i]]
    val_reals = [everyone[i] for i in val_idx if is_real[i]]
    train_fakes = [everyone[i] for i in train_idx if not is_real[i]]
    val_fakes = [everyone[i] for i in val_idx if not is_real[i]]
    if not train_reals or not val_reals:
        raise ValueError("the identity split left no real faces on one side; add pictures of more people")
    if not config.sbi and (not train_fakes or not val_fakes):
        raise ValueError("the identity split left no given fakes on one side; add fakes of more people")
    if config.sbi:  # each validation real with its self-blend (a fixed draw), then every given fake
        val_images, val_labels = _pairs(val_reals, [], np.random.default_rng(config.seed + 1), True, False)
    else:
        val_images, val_labels = [f.image for f in val_reals], [0] * len(val_reals)
    val_images += [f.image for f in val_fakes]
    val_labels += [1] * len(val_fakes)
    people = {name: len({identities.labels[i] for i in idx}) for name, idx in (("train", train_idx), ("val", val_idx))}
    balance = {"train": {"real": len(train_reals), "fake_given": len(train_fakes),
                         "fake_per_step": "one per real (self-blend" + (" or given fake)" if train_fakes else ")")
                         if config.sbi else "one given fake per real"},
               "val": {"real": val_labels.count(0), "fake": val_labels.count(1)}}
    log(f"identities by {identities.method}: {people['train']} people train, {people['val']} validate "
        f"({balance['val']['real']} real / {balance['val']['fake']} fake validation faces)")

    model, spec = _initial_model(config)
    frozen = config.frozen_batchnorm
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    ckpt = checkpoint_path(work_dir, config.name)
    history: list[dict[str, float]] = []
    first_epoch, best_state, best_epoch = 0, None, None
    if config.resume:
        if not ckpt.is_file():
            raise ValueError(f"nothing to resume: no checkpoint at {ckpt}")
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        if saved["config"]["arch"] != config.arch or saved["config"]["size"] != config.size:
            raise ValueError(f"the checkpoint was trained as {saved['config']['arch']} at {saved['config']['size']} px")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        history, first_epoch = list(saved["history"]), int(saved["epoch"]) + 1
        best_state, best_epoch = saved.get("best_model"), saved.get("best_epoch")
        log(f"resuming {config.name} after epoch {first_epoch}")
    half = max(1, config.batch_size // 2)
    steps = math.ceil(len(train_reals) / half)
    control.start(steps, batch_count=config.epochs, textinfo=f"training {config.name}")
    control.progress.batch = first_epoch
    stopped = early = False
    for epoch in range(first_epoch, config.epochs):
        model.train()
        if frozen:
            batchnorm.freeze(model)
        rng = np.random.default_rng([config.seed, epoch])
        shuffled = [train_reals[i] for i in rng.permutation(len(train_reals))]
        losses = []
        for step in range(steps):
            if control.should_stop():
                stopped = True
                break
            images, labels = _pairs(shuffled[step * half:(step + 1) * half], train_fakes, rng, config.sbi,
                                    config.augment)
            loss = F.cross_entropy(model(to_batch(images, spec)), torch.tensor(labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().item())
            control.step(step + 1, batch=epoch)
        if stopped:
            log(f"stopped during epoch {epoch + 1}; the checkpoint after epoch {epoch} is kept for --resume")
            break
        if not frozen:
            calibration = np.random.default_rng([config.seed, epoch, 1])
            batches = (to_batch(_pairs(shuffled[i * half:(i + 1) * half], train_fakes, calibration, config.sbi,
                                       False)[0], spec) for i in range(min(steps, _RECALIBRATION_BATCHES)))
            batchnorm.recalibrate(model, batches, model)
        metrics = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                   **_evaluate(model, spec, val_images, val_labels, config.batch_size)}
        history.append(metrics)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {metrics['loss']:.4f}, validation AUC {metrics['val_auc']:.3f} "
            f"(p {metrics['val_p']:.2g}), accuracy {metrics['val_acc']:.3f}, "
            f"mean P(fake) real {metrics['val_score_real']:.3f} / fake {metrics['val_score_fake']:.3f}")
        best_auc = next((e["val_auc"] for e in history if e["epoch"] == best_epoch), -1.0)
        if best_epoch is None or (not math.isnan(metrics["val_auc"]) and metrics["val_auc"] > best_auc):
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch + 1
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(ckpt, "wb") as handle:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "history": history, "best_model": best_state, "best_epoch": best_epoch,
                        "config": {**asdict(config), "real_dir": str(config.real_dir),
                                   "fake_dir": str(config.fake_dir), "init": str(config.init)}}, handle)
        if epoch + 1 - best_epoch >= config.patience:
            early = True
            log(f"validation AUC has not improved for {config.patience} epochs: stopping, keeping epoch {best_epoch}")
            break
    report = TrainReport(config.name, models_dir / "detectors" / f"{config.name}.safetensors", history, stopped,
                         best_epoch=best_epoch, class_balance=balance,
                         identities={"method": identities.method, "people": people},
                         batchnorm="frozen (pretrained statistics)" if frozen else "recalibrated on the final weights",
                         init=str(config.init) if config.init else None)
    report.stopped_early = stopped or early
    if not history:
        report.refusal = "no epoch finished"
        return report
    model.load_state_dict(best_state)
    model.eval()
    report.refusal = refusal_reason(report.best, config.min_val_auc)
    if report.refusal is None:
        report.installed = True
        save_detector(model, spec, models_dir / "detectors", config.name, report.to_json())
    else:
        report.weights = work_dir / config.name / f"{config.name}.safetensors"
        save_detector(model, spec, work_dir / config.name, config.name, report.to_json())
        log(f"not installed: {report.refusal}. The weights are kept in {report.weights.parent} for inspection.")
    return report


def face_finder(models_dir: Path, data_dir: Path, device: str = "auto", embed: bool = True) -> Optional[FaceFinder]:
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
            return engine.detect(image, embed=embed)  # embeddings: identities for the validation split
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
                             resume=args.resume, name=args.out or f"{args.arch}-sbi", init=args.init,
                             freeze_bn=args.freeze_bn, sbi=not args.no_sbi, patience=args.patience,
                             val_fraction=args.val_fraction,
                             min_val_auc=args.min_val_auc)
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
    print(f"class balance: {json.dumps(report.class_balance)}; identities: {json.dumps(report.identities)}")
    if not report.installed:
        print(f"NOT INSTALLED: {report.refusal}. Weights kept in {report.weights.parent} (not offered in Detect).")
        return 3
    print(f"wrote {report.weights} (validation AUC {report.val_auc:.3f} at epoch {report.best_epoch}, on people it "
          f"never trained on); choose '{report.weights.name}' in Detect")
    return 0
