"""Scores → the numbers a detector is judged by: ROC AUC (with its uncertainty), ROC curve, EER,
average precision, accuracy at a threshold, calibration bins, bootstrap confidence intervals."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); NaN with one class."""
    from scipy.stats import rankdata

    y = np.asarray(labels)
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_p_value(labels: Sequence[int], scores: Sequence[float]) -> float:
    """One-sided Mann-Whitney U p-value: the chance of an AUC this high if scores carried no
    information about the labels (exact for small sets, normal approximation for large)."""
    from scipy.stats import mannwhitneyu

    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if not (y == 1).any() or not (y == 0).any():
        return float("nan")
    return float(mannwhitneyu(s[y == 1], s[y == 0], alternative="greater").pvalue)


def roc_curve(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates, thresholds), from (0, 0) to (1, 1)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = np.cumsum(~y)[distinct]
    tpr = np.r_[0.0, tps / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fps / max(int((~y).sum()), 1)]
    return fpr, tpr, np.r_[np.inf, s[distinct]]


def equal_error_rate(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Where the false-positive rate equals the false-negative rate (linear interpolation)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.argmax(fpr >= fnr))
    if i == 0:
        return float(fpr[0])
    a, b = fpr[i - 1] - fnr[i - 1], fpr[i] - fnr[i]
    t = a / (a - b) if a != b else 0.0
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def average_precision(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the precision-recall curve as a step sum (the usual AP)."""
    y = np.asarray(labels, dtype=bool)
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].sum() / hits.sum())


def accuracy_at(labels: Sequence[int], scores: Sequence[float], threshold: float) -> float:
    return float(np.mean((np.asarray(scores) >= threshold) == np.asarray(labels, dtype=bool)))


def calibration_bins(labels: Sequence[int], scores: Sequence[float], bins: int = 10
                     ) -> list[tuple[float, float, int]]:
    """(mean predicted P(fake), observed fraction fake, count) per equal-width score bin."""
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    which = np.minimum((s * bins).astype(int), bins - 1)
    return [(float(s[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]


def bootstrap_interval(labels: Sequence[int], scores: Sequence[float],
                       statistic: Callable[[np.ndarray, np.ndarray], float], rounds: int = 1000,
                       seed: int = 0, groups: Sequence[str] = ()) -> tuple[float, float]:
    """95% percentile interval of ``statistic`` over resamples; with ``groups`` (e.g. identity or
    video), whole groups are resampled, since pictures of one person are not independent."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if len(groups):
        names = np.asarray(groups)
        members = [np.nonzero(names == g)[0] for g in np.unique(names)]
    else:
        members = [np.array([i]) for i in range(len(y))]
    values = []
    for _ in range(rounds):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        value = statistic(y[pick], s[pick])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)
