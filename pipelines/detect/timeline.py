"""The score timeline of a scored video as a PNG (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from pipelines.detect.aggregate import Segment  # noqa: E402


def timeline_png(tracks: Mapping[int, tuple[Sequence[float], Sequence[float]]], threshold: float,
                 segments: Sequence[Segment], title: str, duration: float) -> bytes:
    """One line per face track (time → P(fake)), the threshold, flagged segments shaded."""
    fig = Figure(figsize=(8, 3), dpi=100)
    ax = fig.add_subplot()
    for segment in segments:
        ax.axvspan(segment.start, segment.end, color="tab:red", alpha=0.15, lw=0)
    for track_id, (times, scores) in sorted(tracks.items()):
        ax.plot(times, scores, marker="o", ms=3, lw=1.2, label=f"face {track_id}")
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set(xlim=(0, max(duration, 1e-3)), ylim=(-0.02, 1.02), xlabel="time (s)", ylabel="P(fake)", title=title)
    ax.grid(alpha=0.3)
    if tracks:
        ax.legend(loc="upper right", fontsize=7, ncol=min(4, len(tracks) + 1))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
