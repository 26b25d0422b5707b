"""Evaluate a detector on folders of real and fake faces: the protocol its numbers come from.

``python launch.py eval-detector --detector NAME --real DIR --fake DIR`` scores every picture
(its most suspicious face, or the whole picture when no face is found) and every sampled frame
of every video, then reports at two levels:

* **frame**: each picture / sampled frame is one sample;
* **video**: each video (the confident-strategy score of its most suspicious face track) and
  each second-level folder of pictures (``<domain>/<clip>/*.png``: frames of one clip, or the
  pictures of one person: their mean score).

For each level: ROC AUC, equal error rate, average precision and accuracy at the threshold,
each with a 95% bootstrap interval that resamples whole groups (a video, a person's folder),
since frames of one clip are not independent; and, per sub-folder of the fake folder (a
"domain": swap method, SBI, …), the AUC of its fakes against all reals. A ROC curve and a
calibration plot are saved as PNGs with ``eval.json`` beside the model, in
``models/detectors/<stem>.eval/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipelines.detect import metrics
from pipelines.detect.detector import Detector
from pipelines.detect.image import score_image
from pipelines.detect.train import IMAGE_SUFFIXES, FaceFinder
from pipelines.detect.video import Sampling, score_video
from pipelines.fileio import atomic_open, atomic_write_text

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
TOP_DOMAIN = "(top folder)"


@dataclass(frozen=True)
class Sample:
    """One scored picture or frame, or one video / clip folder (level "video")."""

    label: int  # 1 fake, 0 real
    score: float
    group: str  # the video or folder it belongs to (bootstrap unit)
    domain: str  # first sub-folder of the real / fake folder
    source: str


@dataclass
class Evaluation:
    detector: str
    threshold: float
    levels: dict[str, dict[str, Any]] = field(default_factory=dict)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    folder: Optional[Path] = None

    def to_json(self) -> dict[str, Any]:
        return {"detector": self.detector, "threshold": self.threshold, "levels": self.levels, "domains": self.domains,
                "skipped": self.skipped, "figures": self.figures}

    def summary(self) -> str:
        lines = []
        for level, m in self.levels.items():
            if not m.get("n_real") or not m.get("n_fake"):
                continue
            lines.append(f"{level}: {m['n_real']} real / {m['n_fake']} fake; AUC {_ci(m, 'auc')}, EER {_ci(m, 'eer')}, "
                         f"AP {_ci(m, 'ap')}, accuracy at {self.threshold:.2f} {_ci(m, 'accuracy')}")
        for name, m in self.domains.items():
            lines.append(f"  fakes in {name}: {m['n_fake']} vs all reals, frame AUC {_ci(m, 'auc')}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}: " + "; ".join(self.skipped[:5]))
        return "\n".join(lines)


def _ci(m: dict[str, Any], key: str) -> str:
    low, high = m[f"{key}_ci"]
    return f"{m[key]:.3f} [{low:.3f}, {high:.3f}]"


def media_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no pictures or videos")
    return files


def _where(path: Path, root: Path) -> tuple[str, str]:
    """``<domain>/<clip or person>/<picture>``: (domain: the first sub-folder, or the top;
    group: the second-level folder a picture is in — the frames of one clip, the pictures of one
    person — or else the picture itself)."""
    parts = path.relative_to(root).parts
    domain = parts[0] if len(parts) > 1 else TOP_DOMAIN
    group = "/".join(parts[:2]) if len(parts) > 2 else "/".join(parts)
    return domain, group


def score_folder(folder: Path, label: int, detector: Detector, find_faces: FaceFinder, sampling: Sampling,
                 skipped: list[str]) -> tuple[list[Sample], list[Sample]]:
    """(frame-level samples, video-level samples) of every picture and video under ``folder``."""
    frames: list[Sample] = []
    videos: list[Sample] = []
    prefix = "fake" if label else "real"
    for path in media_files(folder):
        domain, group = _where(path, folder)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            try:
                report = score_video(path, detector, find_faces, sampling)
            except ValueError as exc:
                skipped.append(f"{path.name}: {exc}")
                continue
            key = f"{prefix}:{path.relative_to(folder)}"
            frames += [Sample(label, s, key, domain, str(path)) for s in report.frame_max]
            videos.append(Sample(label, report.score, key, domain, str(path)))
            continue
        try:
            rgb = np.asarray(Image.open(path).convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            skipped.append(f"{path.name}: not a readable image ({exc})")
            continue
        report = score_image(detector, rgb, list(find_faces(rgb)), heatmaps=False)
        frames.append(Sample(label, report.max_score, f"{prefix}:{group}", domain, str(path)))
    clips: dict[str, list[Sample]] = {}
    for sample in frames:
        if not any(v.group == sample.group for v in videos):
            clips.setdefault(sample.group, []).append(sample)
    videos += [Sample(label, float(np.mean([s.score for s in members])), key, members[0].domain, key)
               for key, members in clips.items() if len(members) > 1]
    return frames, videos


def level_metrics(samples: Sequence[Sample], threshold: float, rounds: int, seed: int) -> dict[str, Any]:
    labels = [s.label for s in samples]
    scores = [s.score for s in samples]
    groups = [s.group for s in samples]
    out: dict[str, Any] = {"n_real": labels.count(0), "n_fake": labels.count(1), "groups": len(set(groups))}
    if not out["n_real"] or not out["n_fake"]:
        return out
    statistics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "auc": metrics.roc_auc, "eer": metrics.equal_error_rate, "ap": metrics.average_precision,
        "accuracy": lambda y, s: metrics.accuracy_at(y, s, threshold)}
    for name, statistic in statistics.items():
        out[name] = statistic(np.asarray(labels), np.asarray(scores))
        out[f"{name}_ci"] = metrics.bootstrap_interval(labels, scores, statistic, rounds, seed, groups)
    out["p_value"] = metrics.auc_p_value(labels, scores)
    out["calibration"] = metrics.calibration_bins(labels, scores)
    out["mean_score_real"] = float(np.mean([s for s, y in zip(scores, labels) if y == 0]))
    out["mean_score_fake"] = float(np.mean([s for s, y in zip(scores, labels) if y == 1]))
    return out


def _figures(levels: dict[str, Sequence[Sample]], folder: Path, title: str) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written = {}
    usable = {k: v for k, v in levels.items() if len({s.label for s in v}) == 2}
    if not usable:
        return written
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for name, samples in usable.items():
        fpr, tpr, _ = metrics.roc_curve([s.label for s in samples], [s.score for s in samples])
        auc = metrics.roc_auc([s.label for s in samples], [s.score for s in samples])
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f}, n={len(samples)})")
    ax.plot([0, 1], [0, 1], "k:", label="chance")
    ax.set(xlabel="false-positive rate (reals called fake)", ylabel="true-positive rate (fakes caught)",
           title=f"ROC — {title}", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    written["roc"] = _save(fig, folder / "roc.png")
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for name, samples in usable.items():
        bins = metrics.calibration_bins([s.label for s in samples], [s.score for s in samples])
        ax.plot([b[0] for b in bins], [b[1] for b in bins], "o-", label=f"{name}")
        for predicted, observed, count in bins:
            ax.annotate(str(count), (predicted, observed), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    ax.set(xlabel="predicted P(fake) (bin mean)", ylabel="observed fraction fake", title=f"Calibration — {title}",
           xlim=(0, 1), ylim=(-0.02, 1.02))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    written["calibration"] = _save(fig, folder / "calibration.png")
    plt.close("all")
    return written


def _save(fig: Any, path: Path) -> str:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return str(path)


def evaluation_folder(detector_path: Path) -> Path:
    """``<stem>.eval/`` beside the detector file (never listed as a detector itself)."""
    return detector_path.parent / f"{detector_path.stem}.eval"


def evaluate(detector: Detector, real_dir: Path, fake_dir: Path, find_faces: FaceFinder, out_dir: Optional[Path],
             threshold: Optional[float] = None, sampling: Sampling = Sampling(), rounds: int = 1000,
             seed: int = 0) -> Evaluation:
    """Score both folders and compute the protocol's numbers (and write them when ``out_dir``)."""
    limit = detector.spec.threshold if threshold is None else float(threshold)
    if not 0.0 <= limit <= 1.0 or math.isnan(limit):
        raise ValueError(f"threshold {limit} must be in [0, 1]")
    result = Evaluation(detector.name, limit)
    real_frames, real_videos = score_folder(real_dir, 0, detector, find_faces, sampling, result.skipped)
    fake_frames, fake_videos = score_folder(fake_dir, 1, detector, find_faces, sampling, result.skipped)
    levels = {"frame": real_frames + fake_frames, "video": real_videos + fake_videos}
    result.levels = {name: level_metrics(samples, limit, rounds, seed) for name, samples in levels.items()}
    for domain in sorted({s.domain for s in fake_frames}):
        subset = real_frames + [s for s in fake_frames if s.domain == domain]
        m = level_metrics(subset, limit, rounds, seed)
        result.domains[domain] = {k: m[k] for k in ("n_real", "n_fake", "auc", "auc_ci", "eer", "ap") if k in m}
    if not real_frames or not fake_frames:
        raise ValueError("nothing scored on one side: " + ("; ".join(result.skipped[:3]) or "no samples"))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.folder = out_dir
        result.figures = _figures({k: v for k, v in levels.items() if v}, out_dir, detector.name)
        samples = [{"level": name, **vars(s)} for name, group in levels.items() for s in group]
        atomic_write_text(out_dir / "eval.json", json.dumps({**result.to_json(), "samples": samples}, indent=1))
    return result


def run_cli(args: Any) -> int:
    """``python launch.py eval-detector ...``: the summary on stdout, results beside the model."""
    import torch

    from pipelines.detect.library import DetectorLibrary
    from pipelines.detect.train import face_finder
    from pipelines.device import DevicePolicy
    from pipelines.models.cache import ModelCache

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        policy = DevicePolicy.detect(args.device)
        library = DetectorLibrary(args.models_dir / "detectors", ModelCache(policy.ram_budget_bytes), policy)
        name = args.detector or next(iter(library.names()), None)
        if name is None:
            raise ValueError(f"no detector in {library.folder}")
        detector = library.load(name)
        find = face_finder(args.models_dir, args.data_dir, args.device, embed=False) if not args.whole_image else None
        sampling = Sampling(every=args.every) if args.every else Sampling(per_second=args.per_second)
        result = evaluate(detector, args.real, args.fake, find or (lambda image: []),
                          args.out or evaluation_folder(library.path(name)), args.threshold, sampling, args.bootstrap)
    except (ValueError, LookupError) as exc:
        print(f"eval-detector: {exc}")
        return 2
    print(f"{result.detector}, threshold {result.threshold:.2f} (95% bootstrap intervals over videos / folders)")
    print(result.summary())
    print(f"wrote {result.folder / 'eval.json'}" + "".join(f", {p}" for p in result.figures.values()))
    return 0
