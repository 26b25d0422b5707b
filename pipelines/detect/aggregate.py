"""From per-frame scores to per-person and per-video answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def confident_strategy(scores: Sequence[float], t: float = 0.8) -> float:
    """The DFDC winner's aggregation (selimsef): when many frames are confidently fake, average
    only those; when nearly all are confidently real, average those; else the plain mean. It keeps
    a few fake frames from being diluted by many uncertain ones."""
    pred = np.asarray(scores, dtype=np.float64)
    if pred.size == 0:
        return 0.0
    fakes = int(np.count_nonzero(pred > t))
    if fakes > pred.size // 2.5 and fakes > 11:
        return float(pred[pred > t].mean())
    if np.count_nonzero(pred < 0.2) > 0.9 * pred.size:
        return float(pred[pred < 0.2].mean())
    return float(pred.mean())


@dataclass(frozen=True)
class Segment:
    """A stretch of the video whose score stays at or above the threshold."""

    start: float
    end: float
    peak: float

    def to_json(self) -> dict[str, float]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "peak": round(self.peak, 6)}


def segments_above(times: Sequence[float], scores: Sequence[float], threshold: float,
                   sample_interval: float) -> list[Segment]:
    """Runs of consecutive samples ≥ ``threshold``; each sample covers ``sample_interval`` seconds."""
    found: list[Segment] = []
    start, peak = None, 0.0
    for i, (time, score) in enumerate(zip(times, scores)):
        if score >= threshold:
            if start is None:
                start, peak = time, score
            peak = max(peak, score)
        if start is not None and (score < threshold or i == len(times) - 1):
            last = times[i - 1] if score < threshold else time
            found.append(Segment(start, last + sample_interval, peak))
            start = None
    return found
