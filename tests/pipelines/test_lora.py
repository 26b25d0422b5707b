"""LoRA tags, catalog, hashes and applying LoRAs to tiny checkpoints through diffusers' loaders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

import pytest
import torch

from pipelines.models.hashing import HashCache
from pipelines.networks.lora import (
    AddnetHashCache,
    LoraCatalog,
    NetworkHasher,
    NetworkManager,
    lora_family,
)
from pipelines.networks.tags import (
    NetworkRequest,
    parse_extra_networks,
    parse_prompt_networks,
    strip_extra_networks,
)
from pipelines.models.architecture import ModelFamily
from tests.factory import build_checkpoint
from tests.factory_networks import build_kohya_lora, build_peft_lora

# ------------------------------------------------------------------------------------------- tags


def test_tags_are_removed_from_the_encoded_text_only() -> None:
    prompt = "a cat <lora:foo:0.5>, <lyco:bar:0.2:0.7> sitting <hypernet:h:1>"
    parsed = parse_prompt_networks(prompt)
    assert parsed.prompt == "a cat ,  sitting "
    assert strip_extra_networks(prompt) == parsed.prompt
    assert parsed.requests == [NetworkRequest("foo", 0.5, 0.5), NetworkRequest("bar", 0.2, 0.7)]
    assert [t.kind for t in parsed.other_tags] == ["hypernet"]
    assert prompt == "a cat <lora:foo:0.5>, <lyco:bar:0.2:0.7> sitting <hypernet:h:1>"


def test_tag_arguments_follow_a1111() -> None:
    parsed = parse_prompt_networks("<lora:a> <lora:b:0.3:unet=0.9> <lora:c:te=0.1:0.4> <lora:d:1:2:8>")
    assert parsed.requests == [
        NetworkRequest("a", 1.0, 1.0),
        NetworkRequest("b", 0.3, 0.9),
        NetworkRequest("c", 0.1, 0.1),  # 0.4 is the positional te weight; te= overrides it
        NetworkRequest("d", 1.0, 2.0, 8),
    ]
    _, tags = parse_extra_networks("<lora:x:y=1=2>")
    assert tags[0].positional == ("x", "y=1=2") and tags[0].named == {}


def test_bad_multiplier_is_a_warning() -> None:
    parsed = parse_prompt_networks("<lora:x:lots> ok <lora:y:0.5>")
    assert parsed.requests == [NetworkRequest("y", 0.5, 0.5)]
    assert len(parsed.warnings) == 1 and "lots" in parsed.warnings[0]


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lora_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lora-models")
    build_checkpoint(root, "sd1", "tiny-sd1", seed=0)
    build_checkpoint(root, "sdxl", "tiny-sdxl", seed=3)
    build_kohya_lora(root, "sd1", "style-a", seed=1)
    build_kohya_lora(root, "sd1", "file-b", seed=2, output_name="alias-b", subdir="sub")
    build_kohya_lora(root, "sd1", "locon", seed=3, conv=True, include_te=False)
    build_kohya_lora(root, "sd1", "small", seed=4, include_te=False, only="attn2.to_k")
    build_kohya_lora(root, "sd1", "pickled", seed=5, fmt="pt", include_te=False, only="attn1")
    build_kohya_lora(root, "sdxl", "xl-lora", seed=6)
    build_peft_lora(root, "sd1", "peft-style", seed=7)
    return root


@pytest.fixture(scope="module")
def context(lora_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from pipelines.context import AppConfig, AtelierContext

    ctx = AtelierContext(AppConfig(data_dir=tmp_path_factory.mktemp("lora-data"), models_dir=lora_root,
                                   hash_in_background=False))
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def networks(context, lora_root: Path) -> NetworkManager:
    catalog = LoraCatalog([lora_root / "Lora"])
    catalog.refresh()
    cache_dir = context.config.data_dir / "cache"
    hasher = NetworkHasher(AddnetHashCache(cache_dir / "hashes-addnet.json"), context.catalog.hash_cache)
    return NetworkManager(catalog, hasher, context.cache)


@pytest.fixture
def sd1(context, networks: NetworkManager) -> Iterator:
    loaded = context.manager.peek("tiny-sd1")
    yield loaded
    networks.clear(loaded)


@pytest.fixture
def sdxl(context, networks: NetworkManager) -> Iterator:
    loaded = context.manager.peek("tiny-sdxl")
    yield loaded
    networks.clear(loaded)


def snapshot(loaded) -> dict[str, torch.Tensor]:
    """Every UNet and text-encoder tensor by name (names change while peft layers are in)."""
    state = {}
    for component in ("unet", "text_encoder", "text_encoder_2"):
        module = loaded.components.get(component)
        if module is not None:
            state.update({f"{component}.{k}": v.detach().clone() for k, v in module.state_dict().items()})
    return state


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def generate(loaded, prompt: str = "a photo of a cat") -> torch.Tensor:
    pipe = loaded.pipeline("txt2img")
    return pipe(prompt, num_inference_steps=2, width=64, height=64, output_type="latent",
                generator=torch.Generator().manual_seed(0)).images


def encode(loaded, component: str = "text_encoder") -> torch.Tensor:
    pipe = loaded.pipeline("txt2img")
    tokenizer = pipe.tokenizer if component == "text_encoder" else pipe.tokenizer_2
    ids = tokenizer(["a photo of a cat"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        return loaded.components[component](ids)[0]


def lora(text: str) -> list[NetworkRequest]:
    return parse_prompt_networks(text).requests


# ---------------------------------------------------------------------------------------- catalog


def test_catalog_finds_by_stem_and_alias_recursively(networks: NetworkManager) -> None:
    catalog = networks.catalog
    names = {info.name for info in catalog.items}
    assert {"style-a", "file-b", "locon", "small", "pickled", "xl-lora", "peft-style"} <= names
    assert catalog.find("alias-b").name == "file-b"
    assert catalog.find("file-b").alias == "alias-b"
    assert catalog.find("xl-lora").family is ModelFamily.SDXL
    assert catalog.find("style-a").family is ModelFamily.SD1
    assert catalog.find("nope") is None


def test_family_from_keys_without_metadata() -> None:
    assert lora_family(["lora_te1_text_model_x.lora_down.weight"], {}) is ModelFamily.SDXL
    assert lora_family(["lora_unet_x.lora_down.weight"], {}) is None
    assert lora_family([], {"ss_v2": "True"}) is ModelFamily.SD2


# ----------------------------------------------------------------------------------- applying


def test_weight_zero_is_the_baseline_bit_exactly(sd1, networks: NetworkManager) -> None:
    base_params, base = snapshot(sd1), generate(sd1)
    assert networks.apply(sd1, lora("<lora:style-a:0>")) == []
    assert networks.active(sd1) == []
    assert torch.equal(generate(sd1), base)
    assert same(snapshot(sd1), base_params)


def test_lora_changes_output_and_removal_restores_bit_exactly(sd1, networks: NetworkManager) -> None:
    base_params, base, base_te = snapshot(sd1), generate(sd1), encode(sd1)
    assert networks.apply(sd1, lora("<lora:style-a:1>")) == []
    assert not torch.equal(generate(sd1), base)
    assert not torch.equal(encode(sd1), base_te)  # the kohya text-encoder layers are applied too
    assert networks.apply(sd1, []) == []
    assert torch.equal(generate(sd1), base)
    assert same(snapshot(sd1), base_params)


def test_separate_text_encoder_and_unet_weights(sd1, networks: NetworkManager) -> None:
    base, base_te = generate(sd1), encode(sd1)
    networks.apply(sd1, lora("<lora:style-a:0:1>"))  # UNet only
    assert torch.equal(encode(sd1), base_te)
    unet_only = generate(sd1)
    assert not torch.equal(unet_only, base)
    networks.apply(sd1, lora("<lora:style-a:1:0>"))  # text encoder only
    assert not torch.equal(encode(sd1), base_te)
    te_only = generate(sd1)
    assert not torch.equal(te_only, base) and not torch.equal(te_only, unet_only)


def test_two_loras_with_independent_weights(sd1, networks: NetworkManager) -> None:
    base = generate(sd1)
    networks.apply(sd1, lora("<lora:style-a:0.8>"))
    only_a = generate(sd1)
    networks.apply(sd1, lora("<lora:style-a:0.8> <lora:alias-b:0.5>"))
    both = generate(sd1)
    networks.apply(sd1, lora("<lora:style-a:0.8> <lora:alias-b:-0.5>"))
    other_weight = generate(sd1)
    assert len(networks.active(sd1)) == 2
    for a, b in ((base, only_a), (only_a, both), (both, other_weight)):
        assert not torch.equal(a, b)
    networks.apply(sd1, lora("<lora:style-a:0.8>"))  # b removed, a kept
    assert torch.equal(generate(sd1), only_a)


def test_unchanged_set_is_not_reapplied(sd1, networks: NetworkManager) -> None:
    networks.apply(sd1, lora("<lora:style-a:0.7>"))
    applied, reused, reads = networks.stats.applied, networks.stats.reused, networks.stats.files_read
    for _ in range(5):
        assert networks.apply(sd1, lora("<lora:style-a:0.7>")) == []
    assert (networks.stats.applied, networks.stats.reused) == (applied, reused + 5)
    networks.apply(sd1, lora("<lora:style-a:0.6>"))  # a new weight is applied, the file is not re-read
    assert networks.stats.applied == applied + 1
    networks.apply(sd1, [])
    networks.apply(sd1, lora("<lora:style-a:0.7>"))  # back again: the parsed file comes from the cache
    assert networks.stats.files_read == reads


def test_sdxl_lora_on_sd1_is_skipped_with_a_warning(sd1, networks: NetworkManager) -> None:
    base_params, base = snapshot(sd1), generate(sd1)
    warnings = networks.apply(sd1, lora("<lora:xl-lora:1>"))
    assert warnings == ["LoRA xl-lora is for SDXL, not SD1: skipped"]
    assert torch.equal(generate(sd1), base)
    assert same(snapshot(sd1), base_params)


def test_unknown_lora_is_a_warning(sd1, networks: NetworkManager) -> None:
    warnings = networks.apply(sd1, lora("<lora:nope:1> <lora:style-a:1> <lora:gone:1>"))
    assert warnings == ["Lora not found: nope, gone"]
    assert len(networks.active(sd1)) == 1


def test_lora_that_does_not_fit_is_skipped_without_a_crash(sd1, networks: NetworkManager, tmp_path: Path) -> None:
    folder = networks.catalog.folders[0]
    # an SD1-named LoRA whose layer widths are wrong (no metadata: only loading can tell)
    state = {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": torch.ones(2, 7),
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": torch.ones(5, 2),
    }
    from safetensors.torch import save_file

    save_file(state, str(folder / "misfit.safetensors"))
    base_params = snapshot(sd1)
    warnings = networks.apply(sd1, lora("<lora:misfit:1> <lora:small:1>"))
    assert len(warnings) == 1 and "misfit" in warnings[0] and "does not fit" in warnings[0]
    assert len(networks.active(sd1)) == 1  # the other LoRA still applies
    assert networks.apply(sd1, lora("<lora:misfit:1> <lora:small:1>")) == warnings  # remembered, not retried
    networks.apply(sd1, [])
    assert same(snapshot(sd1), base_params)
    os.unlink(folder / "misfit.safetensors")


def test_lycoris_loha_is_reported_as_unsupported(sd1, networks: NetworkManager) -> None:
    folder = networks.catalog.folders[0]
    from safetensors.torch import save_file

    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    save_file({f"{key}.hada_w1_a": torch.ones(32, 2), f"{key}.hada_w1_b": torch.ones(2, 32)},
              str(folder / "loha.safetensors"))
    warnings = networks.apply(sd1, lora("<lora:loha:1>"))
    assert warnings == ["LoRA loha: LyCORIS LoHa networks are not supported"]
    os.unlink(folder / "loha.safetensors")


@pytest.mark.slow  # 100 LoRA load/unload rounds
def test_no_drift_after_100_alternations(sd1, networks: NetworkManager) -> None:
    base_params, base = snapshot(sd1), generate(sd1)
    for i in range(100):
        networks.apply(sd1, lora("<lora:small:1>") if i % 2 == 0 else [])
    assert same(snapshot(sd1), base_params)
    assert torch.equal(generate(sd1), base)


@pytest.mark.parametrize("name", ["locon", "peft-style", "pickled"])
def test_locon_peft_and_pickled_formats_apply_and_restore(sd1, networks: NetworkManager, name: str) -> None:
    base_params, base = snapshot(sd1), generate(sd1)
    assert networks.apply(sd1, lora(f"<lora:{name}:1>")) == []
    assert not torch.equal(generate(sd1), base)
    if name == "locon":  # the ResNet convs carry adapters
        conv = sd1.components["unet"].down_blocks[0].resnets[0].conv1
        assert hasattr(conv, "lora_A")
    networks.apply(sd1, [])
    assert same(snapshot(sd1), base_params)


def test_sdxl_kohya_lora_with_ldm_names(sdxl, networks: NetworkManager) -> None:
    base_params, base = snapshot(sdxl), generate(sdxl)
    base_te2 = encode(sdxl, "text_encoder_2")
    assert networks.apply(sdxl, lora("<lora:xl-lora:1>")) == []
    assert not torch.equal(generate(sdxl), base)
    assert not torch.equal(encode(sdxl, "text_encoder_2"), base_te2)
    assert networks.apply(sdxl, lora("<lora:style-a:1>")) == ["LoRA style-a is for SD1, not SDXL: skipped"]
    assert same(snapshot(sdxl), base_params)


def test_changed_file_is_reloaded(sd1, networks: NetworkManager, lora_root: Path) -> None:
    networks.apply(sd1, lora("<lora:small:1>"))
    first = generate(sd1)
    build_kohya_lora(lora_root, "sd1", "small", seed=99, include_te=False, only="attn2.to_k")
    path = lora_root / "Lora" / "small.safetensors"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    networks.apply(sd1, lora("<lora:small:1>"))
    assert not torch.equal(generate(sd1), first)
    build_kohya_lora(lora_root, "sd1", "small", seed=4, include_te=False, only="attn2.to_k")


# ---------------------------------------------------------------------------------------- hashes


def _addnet(path: Path) -> str:
    data = path.read_bytes()
    header = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + header:]).hexdigest()


def test_lora_hashes_value(networks: NetworkManager, lora_root: Path) -> None:
    a = lora_root / "Lora" / "style-a.safetensors"
    b = lora_root / "Lora" / "sub" / "file-b.safetensors"
    value = networks.lora_hashes(lora("<lora:style-a:1> <lora:alias-b:0.5> <lora:nope:1> <lora:style-a:0.2>"))
    assert value == f"style-a: {_addnet(a)[:12]}, alias-b: {_addnet(b)[:12]}"
    assert networks.hasher.addnet_cache.cached(a) == _addnet(a)  # cached like checkpoint hashes
    assert networks.lora_hashes([]) is None
    pickled = lora_root / "Lora" / "pickled.pt"
    full_sha = hashlib.sha256(pickled.read_bytes()).hexdigest()
    assert networks.lora_hashes(lora("<lora:pickled:1>")) == f"pickled: {full_sha[:12]}"


def test_stored_kohya_hash_is_preferred(tmp_path: Path) -> None:
    path = build_kohya_lora(tmp_path, "sd1", "trained", include_te=False, only="attn2.to_k",
                            extra_metadata={"sshs_model_hash": "abcdef0123456789" * 4})
    catalog = LoraCatalog([tmp_path / "Lora"])
    catalog.refresh()
    hasher = NetworkHasher(AddnetHashCache(tmp_path / "a.json"), HashCache(tmp_path / "s.json"))
    manager = NetworkManager(catalog, hasher)
    assert manager.lora_hashes(lora("<lora:trained:1>")) == "trained: abcdef012345"
    assert path.is_file()
