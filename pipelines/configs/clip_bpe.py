"""Turn OpenAI's CLIP BPE merge list into the vocab.json / merges.txt pair that CLIPTokenizer reads.

Every Stable Diffusion text encoder (CLIP ViT-L/14, OpenCLIP ViT-H/14 and ViT-bigG/14) uses the
same 49408-token vocabulary, so one build serves all of them.  The source file
``bpe_simple_vocab_16e6.txt.gz`` ships inside the ``open_clip_torch`` wheel.
"""

from __future__ import annotations

import gzip
import zipfile
from dataclasses import dataclass
from pathlib import Path

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
VOCAB_SIZE = 49408
# CLIP keeps the first 49152 - 256 - 2 merges of the file (its first line is a version header).
MERGE_COUNT = VOCAB_SIZE - 2 * 256 - 2
_WHEEL_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"


@dataclass(frozen=True)
class ClipBpe:
    """The tokenizer's two tables: token -> id, and the ordered merge rules."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]


def byte_to_unicode() -> dict[int, str]:
    """Map every byte to a printable character, so BPE can work on text without control bytes.

    Printable Latin-1 bytes map to themselves (in byte order); the remaining 68 bytes take the code
    points from 256 upward, in byte order.  The iteration order of the result is the id order of
    CLIP's first 256 tokens, which is why ``!`` is token 0.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def read_merges_from_wheel(wheel: Path) -> list[str]:
    """Read the raw lines of ``bpe_simple_vocab_16e6.txt.gz`` from an ``open_clip_torch`` wheel."""
    with zipfile.ZipFile(wheel) as archive:
        packed = archive.read(_WHEEL_MEMBER)
    return gzip.decompress(packed).decode("utf-8").split("\n")


def build_clip_bpe(merge_lines: list[str]) -> ClipBpe:
    """Build the vocabulary the way OpenAI CLIP's ``SimpleTokenizer`` does.

    Ids: 256 byte symbols, the same 256 with ``</w>``, one token per kept merge, then
    ``<|startoftext|>`` and ``<|endoftext|>``.
    """
    kept = merge_lines[1 : MERGE_COUNT + 1]
    if len(kept) != MERGE_COUNT:
        raise ValueError(f"expected {MERGE_COUNT} merges, found {len(kept)}")
    merges: list[tuple[str, str]] = []
    for line in kept:
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"malformed merge line: {line!r}")
        merges.append((parts[0], parts[1]))

    symbols = list(byte_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += [left + right for left, right in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"vocabulary has {len(vocab)} distinct tokens, expected {VOCAB_SIZE}")
    return ClipBpe(vocab=vocab, merges=merges)
