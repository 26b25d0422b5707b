"""Regenerate every file under ``pipelines/configs/`` (tokenizer tables and diffusers configs).

Run ``python -m pipelines.configs.build`` from the repository root.  The output is committed, so
the app never builds anything at runtime.  Without ``--wheel`` the script fetches the pinned
``open_clip_torch`` wheel with pip (it ships ``bpe_simple_vocab_16e6.txt.gz``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipelines.configs.clip_bpe import BOS_TOKEN, EOS_TOKEN, ClipBpe, build_clip_bpe, read_merges_from_wheel
from pipelines.configs.specs import config_folders

CONFIGS_ROOT = Path(__file__).resolve().parent
TOKENIZER_FOLDER = "clip-tokenizer"
OPEN_CLIP_REQUIREMENT = "open_clip_torch==3.3.0"
EXPECTED_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


def _write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if compact:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(data, ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")


def _fetch_wheel(into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", OPEN_CLIP_REQUIREMENT, "-d", str(into)],
        check=True,
    )
    wheels = sorted(into.glob("open_clip_torch-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip did not produce an open_clip_torch wheel in {into}")
    return wheels[0]


def write_tokenizer(folder: Path, bpe: ClipBpe) -> None:
    """Write a CLIPTokenizer folder that pads with ``<|endoftext|>`` (callers override for OpenCLIP)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "vocab.json", bpe.vocab, compact=True)
    merges = "#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in bpe.merges)
    (folder / "merges.txt").write_text(merges, encoding="utf-8")
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "pad_token": EOS_TOKEN, "unk_token": EOS_TOKEN}
    _write_json(folder / "special_tokens_map.json", special)
    _write_json(
        folder / "tokenizer_config.json",
        {
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": True,
            "do_lower_case": True,
            "errors": "replace",
            "model_max_length": 77,
            "tokenizer_class": "CLIPTokenizer",
            **special,
        },
    )


def write_configs(root: Path) -> list[str]:
    """Write every architecture folder under ``root``; returns the folder names written."""
    written = []
    for name, files in config_folders().items():
        target = root / name
        if target.exists():
            shutil.rmtree(target)
        for relative, content in files.items():
            _write_json(target / relative, content)
        written.append(name)
    return written


def _check_tokenizer(folder: Path) -> None:
    from transformers import CLIPTokenizer

    ids = CLIPTokenizer.from_pretrained(folder)("a photo of a cat").input_ids
    if ids != EXPECTED_IDS:
        raise RuntimeError(f"tokenizer self-check failed: {ids} != {EXPECTED_IDS}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="local open_clip_torch wheel (default: pip download)")
    parser.add_argument("--out", type=Path, default=CONFIGS_ROOT, help="output root (default: this package)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        wheel = args.wheel or _fetch_wheel(Path(scratch))
        bpe = build_clip_bpe(read_merges_from_wheel(wheel))

    tokenizer = args.out / TOKENIZER_FOLDER
    if tokenizer.exists():
        shutil.rmtree(tokenizer)
    write_tokenizer(tokenizer, bpe)
    _check_tokenizer(tokenizer)
    names = write_configs(args.out)
    print(f"wrote {TOKENIZER_FOLDER}/ and {', '.join(names)} under {args.out}")


if __name__ == "__main__":
    main()
