"""Unit tests for the engine's small parts: hashes, cache, jobs, seeds, outputs, settings."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from pipelines.diffusion import images as imgops
from pipelines.diffusion.request import ResizeMode
from pipelines.diffusion.seeds import batch_noise, batch_seeds, image_noise, resolve_seed, slerp
from pipelines.jobs import JobQueue, JobState
from pipelines.models.cache import ModelCache
from pipelines.models.hashing import HashCache, addnet_hash_safetensors, legacy_model_hash, sha256_file
from pipelines.outputs import OutputWriter, read_infotext
from pipelines.settings import SettingsStore


# -- hashes -------------------------------------------------------------------------------
def test_hashes_match_a1111_definitions(tmp_path: Path) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert legacy_model_hash(path) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


def test_addnet_hash_skips_the_header(tmp_path: Path) -> None:
    header = b'{"a": 1}'
    body = b"tensor-bytes" * 100
    path = tmp_path / "lora.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + body)
    assert addnet_hash_safetensors(path) == hashlib.sha256(body).hexdigest()


def test_hash_cache_reuses_until_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.ckpt"
    path.write_bytes(b"one")
    cache = HashCache(tmp_path / "cache" / "hashes.json")
    first = cache.sha256(path)
    calls = []
    import pipelines.models.hashing as hashing

    monkeypatch.setattr(hashing, "sha256_file", lambda p: calls.append(p) or "x")
    reloaded = HashCache(tmp_path / "cache" / "hashes.json")
    assert reloaded.sha256(path) == first and not calls  # persisted, no rehash
    path.write_bytes(b"two, longer")
    assert reloaded.cached(path) is None
    assert reloaded.sha256(path) == "x" and calls == [path]


# -- cache --------------------------------------------------------------------------------
def test_cache_evicts_least_recently_used_but_never_pinned() -> None:
    evicted = []
    cache = ModelCache(budget_bytes=100)
    cache.put("a", "A", 50, on_evict=evicted.append)
    cache.pin("a")
    cache.put("b", "B", 40, on_evict=evicted.append)
    assert cache.get("b") == "B"
    cache.put("c", "C", 40, on_evict=evicted.append)  # over budget: b goes, a is pinned
    assert evicted == ["B"] and cache.keys() == ["a", "c"]
    assert cache.get("missing") is None
    assert (cache.stats.hits, cache.stats.misses, cache.stats.evictions) == (1, 1, 1)


# -- jobs ---------------------------------------------------------------------------------
def test_queue_runs_in_order_and_reports_errors() -> None:
    queue = JobQueue()
    order: list[int] = []
    jobs = [queue.submit("t", lambda c, i=i: order.append(i) or i) for i in range(3)]
    assert [j.wait(5) for j in jobs] == [0, 1, 2] and order == [0, 1, 2]
    failing = queue.submit("t", lambda c: (_ for _ in ()).throw(ValueError("bad input")))
    with pytest.raises(ValueError, match="bad input"):
        failing.wait(5)
    assert failing.state is JobState.FAILED
    assert queue.run("t", lambda c: "still alive", timeout=5) == "still alive"
    queue.shutdown()


def test_only_the_owner_can_interrupt() -> None:
    queue = JobQueue()
    started = threading.Event()

    def work(control):
        started.set()
        return "interrupted" if control.interrupted.wait(30) else "finished"

    job = queue.submit("t", work, owner="alice")
    started.wait(5)
    assert queue.interrupt(owner="bob") is False
    assert queue.interrupt(job_id=job.id, owner="bob") is False
    assert queue.interrupt(owner="alice") is True
    assert job.wait(5) == "interrupted"
    queue.shutdown()


def test_queue_position_counts_jobs_ahead() -> None:
    queue = JobQueue()
    gate, running = threading.Event(), threading.Event()
    first = queue.submit("t", lambda c: running.set() or gate.wait(5))
    second = queue.submit("t", lambda c: None)
    third = queue.submit("t", lambda c: None)
    assert running.wait(5)  # the first job is on the worker, the others wait behind it
    assert queue.position(first) == 0
    assert queue.position(third) == queue.position(second) + 1 == 2
    gate.set()
    third.wait(5)
    assert queue.position(third) == -1
    queue.shutdown()


# -- seeds --------------------------------------------------------------------------------
def test_seed_conventions() -> None:
    assert resolve_seed(42) == 42
    assert 0 <= resolve_seed(-1) < 4294967294
    assert batch_seeds(10, 3) == [10, 11, 12]


def test_noise_depends_only_on_the_image_seed() -> None:
    shape = (4, 8, 8)
    batch = batch_noise(shape, [5, 6], [0, 0])
    assert torch.equal(batch[1], image_noise(shape, 6))
    assert not torch.equal(batch[0], batch[1])


def test_variation_seed_blends_between_seeds() -> None:
    shape = (4, 8, 8)
    a, b = image_noise(shape, 1), image_noise(shape, 2)
    assert torch.allclose(image_noise(shape, 1, 2, 0.0), a)
    assert torch.allclose(image_noise(shape, 1, 2, 1.0), b, atol=1e-5)
    mid = image_noise(shape, 1, 2, 0.5)
    assert not torch.allclose(mid, a) and not torch.allclose(mid, b)
    assert abs(mid.norm() / a.norm() - 1) < 0.1  # slerp keeps the noise's scale
    assert torch.allclose(slerp(0.3, a, a), a)


def test_seed_resize_from_centres_the_original_noise() -> None:
    small = image_noise((4, 8, 8), 7)
    big = image_noise((4, 12, 12), 7, resize_from=(8, 8))
    assert torch.equal(big[:, 2:10, 2:10], small)


# -- outputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_writer_numbers_files_and_embeds_infotext(tmp_path: Path, fmt: str) -> None:
    writer = OutputWriter(tmp_path, fmt=fmt)
    image = Image.new("RGB", (16, 16), (10, 20, 30))
    text = 'a cat, (fluffy:1.2)\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Seed: 5'
    first = writer.save(image, "txt2img", seed=5, prompt="a cat/dog: *", infotext=text)
    second = writer.save(image, "txt2img", seed=6, prompt="", infotext=text)
    assert first.name == f"00000-5-a cat dog{'.' + fmt}"
    assert second.name.startswith("00001-6")
    assert read_infotext(Image.open(first)) == text
    assert not list(tmp_path.rglob("*.tmp"))


# -- settings -----------------------------------------------------------------------------
def test_settings_persist_validate_and_ignore_unknown_keys(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "config.json")
    store.update({"samples_format": "webp", "send_seed": False, "some_a1111_option": 3})
    again = SettingsStore(tmp_path / "config.json")
    assert again.settings.samples_format == "webp" and again.settings.send_seed is False
    assert "some_a1111_option" not in again.settings.model_dump()  # never stored (see tests/security)
    with pytest.raises(ValueError):  # pydantic ValidationError
        again.update({"samples_format": "bmp", "send_seed": True})
    assert again.settings.send_seed is False  # all or nothing
    assert again.reset().samples_format == "png"


def test_settings_survive_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    assert SettingsStore(tmp_path / "config.json").settings.samples_format == "png"


# -- images -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(ResizeMode))
def test_resize_modes_produce_the_target_size(mode: ResizeMode) -> None:
    image = Image.new("RGB", (100, 50), (200, 0, 0))
    out = imgops.resize_image(image, 64, 96, mode)
    assert out.size == (64, 96)


def test_paste_back_keeps_unmasked_pixels_exact() -> None:
    original = Image.new("RGB", (32, 32), (10, 200, 30))
    generated = Image.new("RGB", (32, 32), (250, 0, 0))
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    out = imgops.paste_back(original, generated, mask)
    assert out.getpixel((0, 0)) == (10, 200, 30) and out.getpixel((16, 16)) == (250, 0, 0)
    assert imgops.mask_bbox(mask, 4) == (4, 4, 28, 28)


@pytest.mark.parametrize("box,size,target", [
    ((10, 10, 20, 40), (100, 100), (64, 64)),
    ((0, 0, 50, 10), (100, 100), (32, 64)),
    ((90, 90, 100, 100), (100, 100), (128, 64)),
])
def test_only_masked_crop_keeps_the_generation_aspect_and_stays_inside(box, size, target) -> None:
    x1, y1, x2, y2 = imgops.expand_to_aspect(box, *target, size)
    assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
    assert x1 <= box[0] and y1 <= box[1] and x2 >= box[2] and y2 >= box[3]
    assert abs((x2 - x1) / (y2 - y1) - target[0] / target[1]) < 0.05
