"""The Models tab through its action functions (cards, details, clicks, search, refresh, download)
and the preview route through a real server."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.models.library import ModelKind
from tests.factory_networks import build_kohya_lora
from tests.file_server import ServedFile, file_server
from webui.ui.models import cards as model_cards
from webui.ui.models import actions as models
from webui.ui.generation import actions

COPIED = ["Stable-diffusion/tiny-sd1.safetensors", "Stable-diffusion/tiny-sdxl.safetensors",
          "Stable-diffusion/garbage.ckpt", "VAE/tiny-vae.safetensors", "Lora/tiny-lora.safetensors",
          "Lora/tiny-xl-lora.safetensors", "embeddings/tiny-ti.safetensors"]


def _preview(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (8, 8), colour).save(path)
    return path


@pytest.fixture(scope="module")
def models_dir(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of some tiny models with previews in every convention, and files that cannot be used."""
    root = tmp_path_factory.mktemp("cards-models")
    for relative in COPIED:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tiny_models_dir / relative, root / relative)
    sidecar = "Stable-diffusion/tiny-sd1.config"  # the tiny model's diffusers configs
    shutil.copytree(tiny_models_dir / sidecar, root / sidecar)
    _preview(root / "Stable-diffusion/tiny-sd1.preview.png", (200, 0, 0))
    _preview(root / "Lora/tiny-lora.png", (0, 200, 0))
    _preview(root / "VAE/tiny-vae.jpg", (0, 0, 200))
    (root / "Lora/broken-lora.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    shutil.copy2(root / "Lora/tiny-lora.safetensors", root / "VAE/not-a-vae.safetensors")
    (root / "embeddings/bad-ti.pt").write_bytes(b"not a pickle")
    outside = tmp_path_factory.mktemp("outside")
    _preview(outside / "secret.png", (1, 2, 3))
    (root / "Lora/escape.png").symlink_to(outside / "secret.png")
    return root


@pytest.fixture(scope="module")
def ctx(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtelierContext]:
    context = AtelierContext(_config(models_dir, tmp_path_factory.mktemp("data")))
    context.library.hash_missing()
    assert context.library.hasher.wait_idle(60)
    yield context
    context.close()


def _config(models_dir: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    from pipelines.context import AppConfig

    return AppConfig(data_dir=data_dir, models_dir=models_dir, hash_in_background=False)


def _sha10(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def _key(ctx: AtelierContext, kind: ModelKind, name: str) -> str:
    return next(card.key for card in ctx.library.cards(kind) if card.name == name)


def test_cards_show_name_architecture_hash_preview_and_status(ctx: AtelierContext, models_dir: Path) -> None:
    checkpoints, loras, vaes, embeddings = models.all_cards_html(ctx)
    assert "tiny-sd1.safetensors" in checkpoints and "SD1 · " + _sha10(models_dir / COPIED[0]) in checkpoints
    assert "SDXL ·" in checkpoints and "unusable: garbage.ckpt" in checkpoints
    assert 'src="/atelier/v1/model-preview/Stable-diffusion/tiny-sd1.preview.png?v=' in checkpoints
    assert "SD1 LoRA · " + _sha10(models_dir / COPIED[4]) in loras and "SDXL LoRA" in loras
    assert "/atelier/v1/model-preview/Lora/tiny-lora.png?v=" in loras
    assert re.search(r"broken-lora</div>.*unusable: ", loras)
    assert "SD VAE · " + _sha10(models_dir / COPIED[3]) in vaes and "/atelier/v1/model-preview/VAE/tiny-vae.jpg" in vaes
    assert "unusable: not a VAE" in vaes
    assert "embedding, 2 vectors" in embeddings and "bad-ti" in embeddings and "unusable:" in embeddings


def test_missing_hashes_show_hashing_until_the_background_worker_fills_them(models_dir: Path, tmp_path: Path) -> None:
    context = AtelierContext(_config(models_dir, tmp_path / "fresh-data"))
    try:
        assert "SD1 LoRA · hashing…" in models.cards_html(context, ModelKind.LORA)
        context.library.hash_missing()
        assert context.library.hasher.wait_idle(60) and models.hashing_pending(context) == 0
        assert "SD1 LoRA · " + _sha10(models_dir / COPIED[4]) in models.cards_html(context, ModelKind.LORA)
        sd1 = context.catalog.find_checkpoint("tiny-sd1")
        assert sd1.title.endswith(f"[{_sha10(models_dir / COPIED[0])}]")  # the dropdown titles get it too
    finally:
        context.close()


def test_search_filters_every_grid(ctx: AtelierContext) -> None:
    html = models.cards_html(ctx, ModelKind.CHECKPOINT, "xl")
    assert "tiny-sdxl" in html and "tiny-sd1.safetensors" not in html and "Checkpoints: 1 of 3" in html
    assert "LoRA: 0 of 3" in models.cards_html(ctx, ModelKind.LORA, "nothing-like-this")
    assert "tiny-lora" in models.cards_html(ctx, ModelKind.LORA, "sd1 lora")


def test_lora_details_show_kohya_training_metadata(ctx: AtelierContext) -> None:
    card = ctx.library.card(_key(ctx, ModelKind.LORA, "tiny-lora"))
    html = models.details(ctx, card)
    for label, value in [("Base model", "tiny-sd1.safetensors"), ("Base model version", "sd_v1"),
                         ("Resolution", "(64, 64)"), ("Epochs", "3"), ("Steps", "120"), ("Network dim", "4"),
                         ("Network alpha", "2.0"), ("Training images", "4")]:
        assert f"<tr><th>{label}</th><td>{value}</td></tr>" in html
    assert "Top training tags:</b> lighthouse (5), tiny (4), sea (1)" in html
    assert card.sha256 in html and "/atelier/v1/model-preview/Lora/tiny-lora.png" in html


def test_clicking_a_lora_or_embedding_card_inserts_it_into_the_prompt(ctx: AtelierContext) -> None:
    outcome = models.use_card(ctx, _key(ctx, ModelKind.LORA, "tiny-lora"), "a lighthouse")
    assert outcome.prompt == "a lighthouse, <lora:tiny-lora:1>" and "Added" in outcome.message
    again = models.use_card(ctx, _key(ctx, ModelKind.LORA, "tiny-lora"), outcome.prompt)
    assert again.prompt == outcome.prompt and "already" in again.message
    emb = models.use_card(ctx, _key(ctx, ModelKind.EMBEDDING, "tiny-ti"), "")
    assert emb.prompt == "tiny-ti" and emb.checkpoint is None
    assert models.insert_into_prompt("a cat,", "x") == "a cat, x"


def test_clicking_a_checkpoint_card_selects_it_like_the_dropdown(ctx: AtelierContext) -> None:
    outcome = models.use_card(ctx, _key(ctx, ModelKind.CHECKPOINT, "tiny-sd1.safetensors"), "keep me")
    assert ctx.manager.current.info.name == "tiny-sd1.safetensors"
    assert outcome.checkpoint == ctx.manager.current.info.title == ctx.settings.sd_model_checkpoint
    assert outcome.prompt is None and outcome.message.startswith("Loaded tiny-sd1.safetensors")


def test_clicking_a_vae_card_sets_the_vae(ctx: AtelierContext) -> None:
    outcome = models.use_card(ctx, _key(ctx, ModelKind.VAE, "tiny-vae.safetensors"), "")
    assert ctx.manager.vae_choice == "tiny-vae.safetensors" == ctx.settings.sd_vae
    assert "VAE set to tiny-vae.safetensors" in outcome.message
    models.select_vae(ctx, "Automatic")


def test_unusable_or_vanished_cards_give_readable_errors(ctx: AtelierContext) -> None:
    with pytest.raises(actions.UserError, match="garbage.ckpt cannot be used: garbage.ckpt"):
        models.use_card(ctx, _key(ctx, ModelKind.CHECKPOINT, "garbage.ckpt"), "")
    with pytest.raises(actions.UserError, match="no longer in the models folder"):
        models.use_card(ctx, "lora:/nowhere/gone.safetensors", "")
    with pytest.raises(actions.UserError, match="unknown model card"):
        models.use_card(ctx, "shader:x", "")


def test_refresh_finds_new_files_and_hashes_them_in_the_background(ctx: AtelierContext, models_dir: Path) -> None:
    path = build_kohya_lora(models_dir, "sd1", "fresh-lora", seed=11)
    assert "fresh-lora" not in models.cards_html(ctx, ModelKind.LORA)
    models.refresh(ctx)
    assert ctx.library.hasher.wait_idle(60)
    assert "fresh-lora" in models.cards_html(ctx, ModelKind.LORA, "fresh")
    assert _sha10(path) in models.cards_html(ctx, ModelKind.LORA, "fresh")


def test_download_from_the_tab_lands_in_the_catalog(ctx: AtelierContext, tiny_models_dir: Path) -> None:
    data = (tiny_models_dir / "Lora/tiny-lora.safetensors").read_bytes()
    with file_server() as (url, state):
        state.files["/dl/web-lora.safetensors"] = ServedFile(data)
        task = models.start_download(ctx, url + "/dl/web-lora.safetensors", "LoRA",
                                     sha256=hashlib.sha256(data).hexdigest())
        task.wait(30)
    assert "Downloaded" in models.download_status(task) and task.path.parent.name == "Lora"
    assert 'value="1.0000"' in model_cards.progress_html(task.fraction, models.download_status(task))
    assert "web-lora" in models.cards_html(ctx, ModelKind.LORA, "web-lora")
    with pytest.raises(actions.UserError, match="only http"):
        models.start_download(ctx, "file:///etc/passwd", "LoRA")
    with pytest.raises(actions.UserError, match="refused"):
        models.start_download(ctx, "http://127.0.0.1/x", "LoRA", filename="../../x.safetensors")


def test_the_models_tab_is_wired_to_the_txt2img_prompt(ctx: AtelierContext) -> None:
    from webui.ui.app import build_ui
    from webui.ui.models.tab import TXT2IMG_PROMPT_ID, _component

    demo = build_ui(ctx)
    assert _component(demo, TXT2IMG_PROMPT_ID) is not None
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"models_lora_cards", "models_details", "models_dl_url", "models_search"} <= ids


@pytest.mark.e2e  # a real launch.py server process
def test_server_serves_previews_and_refuses_paths_outside_models(tmp_path: Path, models_dir: Path) -> None:
    from tests.test_server import running_server

    with running_server(tmp_path, models_dir, "--nowebui") as server:
        status, content_type, body = server.request("GET", "/atelier/v1/model-preview/Lora/tiny-lora.png")
        assert status == 200 and content_type == "image/png"
        assert body == (models_dir / "Lora/tiny-lora.png").read_bytes()
        for bad in ["%2e%2e/%2e%2e/etc/passwd", "..%2Foutside%2Fsecret.png", "Lora/escape.png",
                    "Lora/tiny-lora.safetensors", "%2Fetc%2Fhostname", "Lora/missing.png"]:
            status, _, body = server.request("GET", f"/atelier/v1/model-preview/{bad}")
            assert status == 404, bad
            assert b"\x89PNG" not in body
