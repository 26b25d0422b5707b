"""Identity-disjoint train / validation split: no person's face on both sides.

A detector validated on the people it was trained on reports how well it memorised them (the
issue measured train AUC 0.86 and held-out people at chance). Identities come from the folder
layout when there is one (``real/<person>/*.png``: the first sub-folder names the person), else
from clustering face embeddings (same person ≈ small cosine distance), else every picture is
its own identity (and the report says the split could not be made identity-disjoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

# Cosine distance under which two embeddings are taken as one person. ArcFace puts one person's
# photos ~0.2-0.5 apart and different people ~0.9-1.1; dlib's 128-d vectors are far tighter
# (different people 0.085-0.216 in cosine terms, OFFLINE-FACTS), so the threshold is per family.
SAME_PERSON = {"arcface": 0.6, "dlib": 0.06}


@dataclass(frozen=True)
class Identities:
    """One identity label per picture, and how they were found."""

    labels: tuple[str, ...]
    method: str  # "folders", "embeddings (<family>)" or "none: one identity per picture"


def folder_identities(files: Sequence[Path], root: Path) -> Optional[list[str]]:
    """The first sub-folder of ``root`` each file is in; None when any file sits in ``root``."""
    labels = []
    for path in files:
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            return None
        labels.append(parts[0])
    return labels if len(set(labels)) >= 2 else None


def cluster_embeddings(embeddings: np.ndarray, threshold: float) -> list[str]:
    """Single-linkage clusters of L2-normalised embeddings at cosine distance ``threshold``."""
    count = len(embeddings)
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    distance = 1.0 - embeddings @ embeddings.T
    for i, j in zip(*np.nonzero(np.triu(distance < threshold, 1))):
        parent[root(int(i))] = root(int(j))
    return [f"person-{root(i)}" for i in range(count)]


def find_identities(files: Sequence[Path], root: Path, embeddings: Sequence[Optional[np.ndarray]],
                    family: Optional[str]) -> Identities:
    by_folder = folder_identities(files, root)
    if by_folder is not None:
        return Identities(tuple(by_folder), "folders")
    if family and embeddings and all(e is not None for e in embeddings):
        key = "dlib" if "dlib" in family else "arcface"
        stacked = np.stack([np.asarray(e, np.float64) / max(float(np.linalg.norm(e)), 1e-12) for e in embeddings])
        return Identities(tuple(cluster_embeddings(stacked, SAME_PERSON[key])), f"embeddings ({key})")
    return Identities(tuple(f"picture-{i}" for i in range(len(files))), "none: one identity per picture")


def split_by_identity(identities: Sequence[str], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, validation indices): whole identities go to validation, in a seeded
    random order, until it holds about ``val_fraction`` of the pictures (at least one identity)."""
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(identities):
        groups.setdefault(label, []).append(index)
    if len(groups) < 2:
        raise ValueError("need pictures of at least 2 people for an identity-disjoint validation set "
                         f"(found {len(groups)}); put each person's pictures in their own sub-folder")
    names = sorted(groups)
    np.random.default_rng(seed).shuffle(names)
    target = max(1, round(len(identities) * val_fraction))
    val: list[int] = []
    for name in names[:-1]:  # the last one always trains
        if len(val) >= target:
            break
        val += groups[name]
    train = sorted(i for i in range(len(identities)) if i not in set(val))
    return train, sorted(val)
