"""Textual inversion: file layouts, name matching, vector injection into the real text encoders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from pipelines import configs
from pipelines.networks.embeddings import (
    PLACEHOLDER_TOKEN,
    EmbeddingDatabase,
    EmbeddingFix,
    apply_fixes,
    encoder_widths,
    inject_embeddings,
    ti_hashes,
)
from tests.factory import build_models
from tests.factory_networks import build_embedding, embedding_vectors


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ti")
    models, top = root / "models" / "embeddings", root / "embeddings"
    build_embedding(models, "emb-pt", "sd1", vectors=3, seed=1, layout="string_to_param")
    build_embedding(models / "nested", "emb-st", "sd1", vectors=2, seed=2, layout="emb_params")
    build_embedding(top, "concept", "sd1", vectors=1, seed=3, layout="concept")
    build_embedding(top, "xl-emb", "sdxl", vectors=2, seed=4, layout="sdxl")
    (top / "broken.pt").write_bytes(b"not a pickle at all")
    return models, top


@pytest.fixture(scope="module")
def database(folders: tuple[Path, Path]) -> EmbeddingDatabase:
    db = EmbeddingDatabase(list(folders))
    db.refresh()
    return db


@pytest.fixture(scope="module")
def sd1_encoder() -> torch.nn.Module:
    return build_models("sd1", seed=0).text_encoder


@pytest.fixture(scope="module")
def tokenizer():
    return configs.load_tokenizer()


def test_every_layout_loads_with_its_vectors(database: EmbeddingDatabase) -> None:
    found = database.embeddings
    assert set(found) == {"emb-pt", "emb-st", "concept", "xl-emb"}
    assert torch.equal(found["emb-pt"].vectors["text_encoder"], embedding_vectors("sd1", 3, 1)["text_encoder"])
    assert torch.equal(found["emb-st"].vectors["text_encoder"], embedding_vectors("sd1", 2, 2)["text_encoder"])
    assert found["concept"].num_vectors == 1  # a 1-D diffusers concept becomes one vector
    xl = embedding_vectors("sdxl", 2, 4)
    assert torch.equal(found["xl-emb"].vectors["text_encoder"], xl["text_encoder"])  # clip_l
    assert torch.equal(found["xl-emb"].vectors["text_encoder_2"], xl["text_encoder_2"])  # clip_g
    assert found["emb-pt"].step == 100
    assert list(database.errors) == [str(database.folders[1] / "broken.pt")]


def test_pickles_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"string_to_param": {"*": Evil()}}, tmp_path / "evil.pt")
    db = EmbeddingDatabase([tmp_path])
    db.refresh()
    assert db.find("evil") is None and "evil.pt" in next(iter(db.errors))
    assert not marker.exists()


def test_embeddings_that_do_not_fit_the_model_are_skipped(database, sd1_encoder) -> None:
    widths = encoder_widths({"text_encoder": sd1_encoder})
    assert widths == {"text_encoder": 32}
    usable, skipped = database.for_model(widths)
    assert set(usable) == {"emb-pt", "emb-st", "concept"} and set(skipped) == {"xl-emb"}


def test_names_become_placeholder_slots(database, sd1_encoder, tokenizer) -> None:
    matcher = database.matcher(tokenizer, encoder_widths({"text_encoder": sd1_encoder}))
    assert database.matcher(tokenizer, encoder_widths({"text_encoder": sd1_encoder})) is matcher
    tokens = tokenizer("a emb-pt photo of concept, xl-emb", add_special_tokens=False)["input_ids"]
    expansion = matcher.expand(tokens)
    a = tokenizer("a", add_special_tokens=False)["input_ids"]
    assert expansion.tokens[:4] == a + [PLACEHOLDER_TOKEN] * 3
    assert [(f.offset, f.embedding.name) for f in expansion.fixes] == [(1, "emb-pt"), (6, "concept")]
    assert [e.name for e in expansion.used] == ["emb-pt", "concept"]
    assert len(expansion.source_index) == len(expansion.tokens)
    xl_tokens = tokenizer("xl-emb", add_special_tokens=False)["input_ids"]
    assert expansion.tokens[-len(xl_tokens):] == xl_tokens  # not usable with SD1: stays text
    assert matcher.match(tokens, 0) is None and matcher.match(tokens, 1).embedding.name == "emb-pt"


def test_longest_name_wins(tmp_path: Path, tokenizer) -> None:
    build_embedding(tmp_path, "cat", "sd1", vectors=1, seed=5, layout="emb_params")
    build_embedding(tmp_path, "cat-art", "sd1", vectors=2, seed=6, layout="emb_params")
    db = EmbeddingDatabase([tmp_path])
    db.refresh()
    matcher = db.matcher(tokenizer, {"text_encoder": 32})
    expansion = matcher.expand(tokenizer("cat-art cat", add_special_tokens=False)["input_ids"])
    assert [f.embedding.name for f in expansion.fixes] == ["cat-art", "cat"]
    assert expansion.tokens == [PLACEHOLDER_TOKEN] * 3


def _encode(encoder, tokenizer, tokens, fixes=None) -> torch.Tensor:
    ids = [tokenizer.bos_token_id] + tokens + [tokenizer.eos_token_id]
    ids += [tokenizer.eos_token_id] * (77 - len(ids))
    with torch.no_grad():
        if fixes is None:
            return encoder(torch.tensor([ids]))[0]
        with inject_embeddings(encoder, "text_encoder", [[f.shifted(1) for f in fixes]]):
            return encoder(torch.tensor([ids]))[0]


@pytest.mark.parametrize("name", ["emb-pt", "emb-st"])
def test_both_formats_change_the_conditioning(database, sd1_encoder, tokenizer, name: str) -> None:
    matcher = database.matcher(tokenizer, {"text_encoder": 32})
    expansion = matcher.expand(tokenizer(f"a photo of {name} on a table", add_special_tokens=False)["input_ids"])
    plain = _encode(sd1_encoder, tokenizer, expansion.tokens)
    injected = _encode(sd1_encoder, tokenizer, expansion.tokens, expansion.fixes)
    start = expansion.fixes[0].offset + 1  # BOS
    assert torch.equal(injected[:, :start], plain[:, :start])  # causal: earlier tokens unchanged
    assert not torch.allclose(injected[:, start:], plain[:, start:])
    assert not sd1_encoder.get_input_embeddings()._forward_hooks  # the hook is gone afterwards
    assert torch.equal(_encode(sd1_encoder, tokenizer, expansion.tokens), plain)


def test_vectors_land_at_their_offsets() -> None:
    db_vec = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    from pipelines.networks.embeddings import Embedding

    emb = Embedding("e", Path("e.pt"), {"text_encoder": db_vec})
    base = torch.zeros(2, 5, 3)
    out = apply_fixes(base, "text_encoder", [[EmbeddingFix(1, emb)], [EmbeddingFix(4, emb)]])
    assert torch.equal(out[0, 1:3], db_vec) and torch.equal(out[1, 4], db_vec[0])  # clipped at the end
    assert out[0, 0].abs().sum() == 0 and torch.equal(base, torch.zeros(2, 5, 3))
    with pytest.raises(ValueError):
        apply_fixes(base, "text_encoder", [[]])


def test_sdxl_pair_feeds_each_encoder_its_vectors(database, tokenizer) -> None:
    model = build_models("sdxl", seed=3)
    components = {"text_encoder": model.text_encoder, "text_encoder_2": model.text_encoder_2}
    matcher = database.matcher(tokenizer, encoder_widths(components))
    expansion = matcher.expand(tokenizer("xl-emb", add_special_tokens=False)["input_ids"])
    assert [f.embedding.name for f in expansion.fixes] == ["xl-emb"]
    emb = expansion.fixes[0].embedding
    for component, encoder in components.items():
        seen: list[torch.Tensor] = []
        ids = torch.tensor([[tokenizer.bos_token_id, *expansion.tokens, tokenizer.eos_token_id]])
        with torch.no_grad(), inject_embeddings(encoder, component, [[expansion.fixes[0].shifted(1)]]):
            # registered after the injection hook, so it sees the injected output
            layer = encoder.get_input_embeddings()
            handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))  # noqa: B023 (called in this iteration)
            encoder(ids)
        handle.remove()
        assert torch.equal(seen[-1][0, 1:3], emb.vectors[component])


def test_ti_hashes_and_refresh(folders: tuple[Path, Path], tmp_path: Path) -> None:
    db = EmbeddingDatabase(list(folders))
    db.refresh()
    pt = db.find("emb-pt")
    expected = hashlib.sha256(pt.path.read_bytes()).hexdigest()[:12]
    assert ti_hashes([pt, db.find("concept"), pt]) == f"emb-pt: {expected}, concept: {db.find('concept').shorthash}"
    assert ti_hashes([]) is None
    db.refresh()
    assert db.find("emb-pt") is pt  # unchanged files are not read again
    build_embedding(folders[1], "emb-pt", "sd1", vectors=1, seed=9, layout="emb_params")  # a later folder wins
    db.refresh()
    assert db.find("emb-pt").num_vectors == 1
    os.unlink(folders[1] / "emb-pt.safetensors")
