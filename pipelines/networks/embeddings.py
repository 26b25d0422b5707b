"""Textual inversion: embedding files, finding their names in token lists, injecting their vectors.

A1111 semantics (``modules/textual_inversion``): an embedding is used by its file name in the
prompt; where its name's tokens appear, N placeholder tokens (id 0) take their place and the
token-embedding output at those N positions is replaced by the embedding's N vectors. Files:
``.pt`` / ``.bin`` (A1111 ``string_to_param``, diffusers concepts; read with
``weights_only=True``) and ``.safetensors`` (``emb_params`` or any single tensor; SDXL
``clip_l`` + ``clip_g``). An embedding whose width does not fit the loaded model is skipped.

Use from prompt conditioning (per text encoder ``component``, e.g. ``"text_encoder"``)::

    matcher = database.matcher(tokenizer, encoder_widths(loaded.components))
    found = matcher.match(tokens, i)          # in your own chunking loop, or:
    expansion = matcher.expand(tokens)        # tokens with placeholders + fixes + used
    with inject_embeddings(text_encoder, component, [row_fixes, ...]):
        hidden = text_encoder(input_ids, output_hidden_states=True)

``EmbeddingFix.offset`` is the index in the encoder's input row (BOS included) of the first
vector; shift fixes with :meth:`EmbeddingFix.shifted` when you prepend BOS or chunk.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import torch

from pipelines.models.catalog import entry_problem, find_model_files
from pipelines.models.hashing import HashCache, sha256_file
from pipelines.models.pickles import RefusedPickleError
from pipelines.models.tensorfile import read_tensor_file
from pipelines.networks.tags import infotext_name

log = logging.getLogger(__name__)

EMBEDDING_EXTENSIONS = (".pt", ".bin", ".safetensors")
PLACEHOLDER_TOKEN = 0  # A1111 fills an embedding's slots with token 0 before injecting vectors
ENCODERS = ("text_encoder", "text_encoder_2")
_SDXL_KEYS = {"clip_l": "text_encoder", "clip_g": "text_encoder_2"}


@dataclass(frozen=True, eq=False)
class Embedding:
    """One textual inversion: its vectors per text-encoder component (``[N, width]``, float32).

    Compared by identity (its tensors have no single truth value)."""

    name: str
    path: Path
    vectors: Mapping[str, torch.Tensor] = field(repr=False)
    sha256: str = ""
    step: Optional[int] = None
    sd_checkpoint: Optional[str] = None  # the hash of the checkpoint it was trained on (A1111's .pt keys)
    sd_checkpoint_name: Optional[str] = None

    @property
    def num_vectors(self) -> int:
        return next(iter(self.vectors.values())).shape[0]

    @property
    def shorthash(self) -> str:
        """The 12 hex digits A1111 writes into ``TI hashes``."""
        return self.sha256[:12]

    @property
    def widths(self) -> dict[str, int]:
        return {component: vec.shape[-1] for component, vec in self.vectors.items()}

    def fits(self, widths: Mapping[str, int]) -> bool:
        """True when the model's text encoders (component → width) are the ones this was made for."""
        return self.widths == dict(widths)


# --------------------------------------------------------------------------------------- reading


def vectors_from_data(data: Any, source: str) -> dict[str, torch.Tensor]:
    """The vectors of a loaded TI file, keyed by text-encoder component (A1111's layouts)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: not a textual-inversion embedding")
    if "string_to_param" in data:
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        if not isinstance(params, Mapping) or len(params) != 1:
            raise ValueError(f"{source}: embedding file has multiple terms in it")
        return {"text_encoder": _as_matrix(next(iter(params.values())), source)}
    if "clip_l" in data and "clip_g" in data:
        return {component: _as_matrix(data[key], source) for key, component in _SDXL_KEYS.items()}
    tensors = [v for v in data.values() if isinstance(v, torch.Tensor)]
    if len(tensors) == 1 and len(data) == 1:  # emb_params, or a diffusers concept {"<token>": vec}
        return {"text_encoder": _as_matrix(tensors[0], source)}
    raise ValueError(f"{source}: couldn't identify it as a textual inversion embedding or diffusers concept")


def _as_matrix(value: Any, source: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim not in (1, 2) or value.numel() == 0:
        raise ValueError(f"{source}: embedding vectors must be a 1-D or 2-D tensor")
    matrix = value.detach().to("cpu", torch.float32)
    return matrix.unsqueeze(0) if matrix.ndim == 1 else matrix.contiguous()


def load_embedding(path: Path, sha256: str = "") -> Embedding:
    """Read one embedding file; its name is the file stem, as in A1111."""
    data = read_tensor_file(path)
    vectors = vectors_from_data(data, path.name)
    rows = {v.shape[0] for v in vectors.values()}
    if len(rows) != 1:
        raise ValueError(f"{path.name}: clip_l and clip_g have different vector counts")
    step = data.get("step") if isinstance(data, Mapping) else None
    trained_on = [data.get(key) if isinstance(data, Mapping) else None for key in ("sd_checkpoint", "sd_checkpoint_name")]
    return Embedding(path.stem, path, vectors, sha256, step if isinstance(step, int) else None,
                     *(str(value) if isinstance(value, (str, int)) else None for value in trained_on))


# ----------------------------------------------------------------------------------- the database


@dataclass
class _Loaded:
    stamp: tuple[int, int]
    embedding: Embedding


class EmbeddingDatabase:
    """The embeddings in a list of folders (recursive; a later folder wins a name clash)."""

    def __init__(self, folders: Sequence[Path], hash_cache: Optional[HashCache] = None) -> None:
        self.folders = [Path(f) for f in folders]
        self.hash_cache = hash_cache
        self.errors: dict[str, str] = {}
        self._by_path: dict[Path, _Loaded] = {}
        self._by_name: dict[str, Embedding] = {}
        self._matchers: dict[tuple, EmbeddingMatcher] = {}
        self._lock = threading.Lock()
        self.revision = 0  # bumped by every refresh, so cached conditionings can be invalidated

    @property
    def embeddings(self) -> dict[str, Embedding]:
        with self._lock:
            return dict(self._by_name)

    def refresh(self) -> None:
        """Rescan the folders; unchanged files are not read again."""
        by_path: dict[Path, _Loaded] = {}
        by_name: dict[str, Embedding] = {}
        errors: dict[str, str] = {}
        for path in self._files():
            problem = entry_problem(path)
            if problem:
                errors[str(path)] = problem
                continue
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                known = self._by_path.get(path)
                if known is None or known.stamp != stamp:
                    known = _Loaded(stamp, load_embedding(path, self._hash(path)))
            except RefusedPickleError as exc:
                errors[str(path)] = str(exc)
                continue
            except Exception as exc:  # a bad file is reported, never fatal
                first_line = (str(exc).splitlines() or [""])[0][:200]
                errors[str(path)] = f"{type(exc).__name__}: {first_line}"
                continue
            by_path[path] = known
            by_name[known.embedding.name] = known.embedding
        with self._lock:
            self._by_path, self._by_name, self.errors = by_path, by_name, errors
            self._matchers.clear()
            self.revision += 1

    def _files(self) -> list[Path]:
        return [path for folder in self.folders for path in find_model_files(folder, EMBEDDING_EXTENSIONS, broken=True)]

    def _hash(self, path: Path) -> str:
        return self.hash_cache.sha256(path) if self.hash_cache is not None else sha256_file(path)

    def unusable_in(self, prompt: str) -> list[str]:
        """A warning for each embedding file the prompt names by its stem that could not be
        read (refused pickle, damaged file): without it the word would silently stay text."""
        with self._lock:
            errors = dict(self.errors)
        words = set(re.findall(r"[^\s,()\[\]{}:|]+", prompt))
        return [f"embedding {Path(path).stem} is not used: {error}" for path, error in sorted(errors.items())
                if Path(path).stem in words]

    def find(self, word: str) -> Optional[Embedding]:
        """The embedding called ``word`` (file stem), or None."""
        with self._lock:
            return self._by_name.get(word)

    def for_model(self, widths: Mapping[str, int]) -> tuple[dict[str, Embedding], dict[str, Embedding]]:
        """``(usable, skipped)`` for a model whose text encoders have ``widths``."""
        usable, skipped = {}, {}
        for name, embedding in self.embeddings.items():
            (usable if embedding.fits(widths) else skipped)[name] = embedding
        return usable, skipped

    def matcher(self, tokenizer: Any, widths: Mapping[str, int]) -> "EmbeddingMatcher":
        """A matcher over the embeddings that fit ``widths``, tokenized with ``tokenizer``
        (cached until the next :meth:`refresh`)."""
        key = (id(tokenizer), tuple(sorted(widths.items())))
        with self._lock:
            cached = self._matchers.get(key)
        if cached is not None and cached.tokenizer is tokenizer:
            return cached
        usable, _ = self.for_model(widths)
        made = EmbeddingMatcher(usable.values(), tokenize_with(tokenizer), tokenizer)
        with self._lock:
            self._matchers[key] = made
        return made


def embedding_folders(models_dir: Path) -> list[Path]:
    """A1111's embedding folders for a models folder: ``models/embeddings`` and the install's
    top-level ``embeddings/`` (the models folder's sibling); missing folders are skipped."""
    return [Path(models_dir) / "embeddings", Path(models_dir).parent / "embeddings"]


def tokenize_with(tokenizer: Any) -> Callable[[str], list[int]]:
    """A1111's name tokenization: no BOS/EOS, no truncation."""
    return lambda text: list(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


def encoder_widths(components: Mapping[str, Any]) -> dict[str, int]:
    """Text-encoder component → token-embedding width, for :meth:`EmbeddingDatabase.matcher`."""
    widths = {}
    for component in ENCODERS:
        encoder = components.get(component)
        if encoder is not None:
            widths[component] = encoder.get_input_embeddings().embedding_dim
    return widths


# ----------------------------------------------------------------------------- tokens and vectors


@dataclass(frozen=True)
class EmbeddingMatch:
    """An embedding found in a token list: its name spans ``length`` tokens there."""

    embedding: Embedding
    length: int


@dataclass(frozen=True)
class EmbeddingFix:
    """Put ``embedding``'s vectors at ``offset`` (index in the encoder input row) onwards."""

    offset: int
    embedding: Embedding

    def shifted(self, delta: int) -> "EmbeddingFix":
        return EmbeddingFix(self.offset + delta, self.embedding)


@dataclass
class Expansion:
    """A token list with embedding names replaced by placeholder slots."""

    tokens: list[int] = field(default_factory=list)
    fixes: list[EmbeddingFix] = field(default_factory=list)
    used: list[Embedding] = field(default_factory=list)
    source_index: list[int] = field(default_factory=list)  # per output token: its input index


class EmbeddingMatcher:
    """Finds embedding names in token lists (longest name first, like A1111's ``ids_lookup``)."""

    def __init__(self, embeddings: Iterable[Embedding], tokenize: Callable[[str], list[int]],
                 tokenizer: Any = None) -> None:
        self.tokenizer = tokenizer
        self._lookup: dict[int, list[tuple[tuple[int, ...], Embedding]]] = {}
        for embedding in embeddings:
            ids = tuple(tokenize(embedding.name))
            if ids:
                self._lookup.setdefault(ids[0], []).append((ids, embedding))
        for candidates in self._lookup.values():
            candidates.sort(key=lambda item: len(item[0]), reverse=True)

    def match(self, tokens: Sequence[int], offset: int) -> Optional[EmbeddingMatch]:
        """The embedding whose name's tokens start at ``tokens[offset]``, or None."""
        for ids, embedding in self._lookup.get(tokens[offset], ()):
            if tuple(tokens[offset:offset + len(ids)]) == ids:
                return EmbeddingMatch(embedding, len(ids))
        return None

    def expand(self, tokens: Sequence[int]) -> Expansion:
        """Replace every embedding name in ``tokens`` by ``num_vectors`` placeholder tokens.

        Fix offsets index the returned tokens; ``source_index`` maps each returned token to
        the input token it came from (so per-token prompt weights can follow).
        """
        out = Expansion()
        i = 0
        while i < len(tokens):
            found = self.match(tokens, i)
            if found is None:
                out.tokens.append(tokens[i])
                out.source_index.append(i)
                i += 1
                continue
            count = found.embedding.num_vectors
            out.fixes.append(EmbeddingFix(len(out.tokens), found.embedding))
            out.tokens += [PLACEHOLDER_TOKEN] * count
            out.source_index += [i] * count
            if found.embedding not in out.used:
                out.used.append(found.embedding)
            i += found.length
        return out


def apply_fixes(token_embeds: torch.Tensor, component: str,
                batch_fixes: Sequence[Sequence[EmbeddingFix]]) -> torch.Tensor:
    """``token_embeds`` ([batch, seq, width]) with each row's fixes written in (a new tensor)."""
    if len(batch_fixes) != token_embeds.shape[0]:
        raise ValueError(f"{len(batch_fixes)} rows of fixes for a batch of {token_embeds.shape[0]}")
    if not any(batch_fixes):
        return token_embeds
    out = token_embeds.clone()
    seq = out.shape[1]
    for row, fixes in enumerate(batch_fixes):
        for fix in fixes:
            vectors = fix.embedding.vectors[component]
            count = min(seq - fix.offset, vectors.shape[0])
            if count > 0:
                out[row, fix.offset:fix.offset + count] = vectors[:count].to(out.device, out.dtype)
    return out


@contextmanager
def inject_embeddings(text_encoder: torch.nn.Module, component: str,
                      batch_fixes: Sequence[Sequence[EmbeddingFix]]) -> Iterator[None]:
    """While active, ``text_encoder``'s token-embedding layer outputs the embeddings' vectors at
    the fixes' positions (A1111's ``EmbeddingsWithFixes``). Nothing is changed permanently."""
    layer = text_encoder.get_input_embeddings()

    def hook(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return apply_fixes(output, component, batch_fixes)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def ti_hashes(used: Iterable[Embedding]) -> Optional[str]:
    """A1111's ``TI hashes`` value (``name: hash12, …``), or None when nothing was used."""
    hashes: dict[str, str] = {}
    for embedding in used:
        if embedding.shorthash:
            hashes.setdefault(infotext_name(embedding.name), embedding.shorthash)
    return ", ".join(f"{k}: {v}" for k, v in hashes.items()) or None
