"""The generation engine end to end on tiny real-format checkpoints (no mocks)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.context import AppConfig, AtelierContext
from pipelines.diffusion.engine import GenerationResult
from pipelines.diffusion.infotext import IMG2IMG_FIELDS, request_fields_from_infotext
from pipelines.diffusion.request import Img2ImgRequest, Txt2ImgRequest
from pipelines.diffusion.fields import InpaintingFill
from pipelines.jobs import JobControl
from pipelines.models.loader import ModelLoadError
from pipelines.models.manager import NoCheckpointError
from pipelines.outputs import read_infotext

SMALL = dict(width=64, height=64, steps=6)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def t2i(ctx: AtelierContext, **fields) -> GenerationResult:
    return ctx.engine.txt2img(Txt2ImgRequest(**{"prompt": "a red fox", "checkpoint": "tiny-sd1", **SMALL, **fields}))


def gradient(size: int = 64) -> Image.Image:
    x = np.linspace(0, 255, size, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(x, (size, 1)), np.tile(x[:, None], (1, size)),
                                     np.full((size, size), 90, np.uint8)], -1))


# -- catalog ------------------------------------------------------------------------------
def test_catalog_titles_hashes_and_architectures(ctx: AtelierContext, tiny_models_dir: Path) -> None:
    info = ctx.catalog.find_checkpoint("tiny-sd1")
    digest = hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert info.sha256 == digest and info.title == f"tiny-sd1.safetensors [{digest[:10]}]"
    assert len(info.legacy_hash) == 8
    for query in (info.title, info.name, digest[:10], digest, str(info.path), "tiny-sd1.safetensors [0000000000]"):
        assert ctx.catalog.find_checkpoint(query) is info
    nested = ctx.catalog.find_checkpoint("more/tiny-sd1-b.safetensors")
    assert nested.model_name == "more_tiny-sd1-b"
    labels = {i.name: i.architecture.label for i in ctx.catalog.usable_checkpoints()}
    assert labels["tiny-sdxl.safetensors"] == "SDXL" and labels["tiny-sd1-inpaint.safetensors"] == "SD1 inpaint"


def test_corrupt_files_are_listed_as_unusable_with_reasons(ctx: AtelierContext) -> None:
    broken = {i.name: i.error for i in ctx.catalog.checkpoints if not i.usable}
    assert set(broken) >= {"broken-truncated.safetensors", "not-a-model.safetensors", "garbage.ckpt"}
    assert all(reason for reason in broken.values())


def test_selecting_a_corrupt_file_keeps_the_current_model(ctx: AtelierContext) -> None:
    before = ctx.manager.checkpoint("tiny-sd1")
    with pytest.raises(ModelLoadError, match="broken-truncated"):
        ctx.manager.checkpoint("broken-truncated.safetensors")
    assert ctx.manager.current is before


def test_empty_models_folder_names_the_folder(make_context, tmp_path: Path) -> None:
    empty = make_context(tmp_path / "empty-models")
    with pytest.raises(NoCheckpointError, match="Stable-diffusion"):
        empty.engine.txt2img(Txt2ImgRequest(prompt="x", **SMALL))


# -- txt2img ------------------------------------------------------------------------------
def test_same_request_and_seed_give_the_same_pixels(ctx: AtelierContext) -> None:
    a, b = t2i(ctx, seed=123), t2i(ctx, seed=123)
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    c = t2i(ctx, seed=124)
    assert not np.array_equal(pixels(a.images[0]), pixels(c.images[0]))


def test_batch_images_use_consecutive_seeds(ctx: AtelierContext) -> None:
    batch = t2i(ctx, seed=50, batch_size=2, n_iter=2)
    assert batch.seeds == [50, 51, 52, 53] and len(batch.images) == 4 and len(batch.paths) == 4
    single = t2i(ctx, seed=51)
    diff = np.abs(pixels(batch.images[1]) - pixels(single.images[0])).max()
    assert diff <= 2  # batched vs single numerics only
    assert "Seed: 53," in batch.infotexts[3]


def test_variation_seed_changes_the_image_and_is_recorded(ctx: AtelierContext) -> None:
    base = t2i(ctx, seed=7)
    zero = t2i(ctx, seed=7, subseed=99, subseed_strength=0.0)
    varied = t2i(ctx, seed=7, subseed=99, subseed_strength=0.5)
    assert np.array_equal(pixels(base.images[0]), pixels(zero.images[0]))
    assert not np.array_equal(pixels(base.images[0]), pixels(varied.images[0]))
    assert "Variation seed: 99, Variation seed strength: 0.5" in varied.infotexts[0]


def test_saved_png_infotext_round_trips_to_the_same_image(ctx: AtelierContext) -> None:
    first = t2i(ctx, seed=77, prompt="a (castle:1.2), at dusk", negative_prompt="blurry, \"text\"",
                cfg_scale=6.5, sampler_name="Euler a")
    saved = Image.open(first.paths[0])
    text = read_infotext(saved)
    assert text == first.infotexts[0]
    assert first.paths[0].parent.parent.name == "txt2img-images"
    fields = {k: v for k, v in request_fields_from_infotext(text).items() if k not in IMG2IMG_FIELDS}
    again = ctx.engine.txt2img(Txt2ImgRequest(**fields))
    assert again.infotexts[0] == text
    assert np.array_equal(pixels(again.images[0]), pixels(first.images[0]))


def test_sdxl_txt2img(ctx: AtelierContext) -> None:
    result = t2i(ctx, checkpoint="tiny-sdxl", seed=3)
    assert result.images[0].size == (64, 64)
    assert "Model: tiny-sdxl" in result.infotexts[0]


def test_hires_fix_upscales_and_records_it(ctx: AtelierContext) -> None:
    latent = t2i(ctx, seed=5, enable_hr=True, hr_scale=1.5)
    pixel = t2i(ctx, seed=5, enable_hr=True, hr_resize_x=128, hr_resize_y=96, hr_upscaler="Lanczos",
                denoising_strength=0.5)
    assert latent.images[0].size == (96, 96) and pixel.images[0].size == (128, 96)
    assert "Hires upscale: 1.5" in latent.infotexts[0] and "Hires resize: 128x96" in pixel.infotexts[0]
    with pytest.raises(ValueError, match="upscaler"):
        t2i(ctx, enable_hr=True, hr_upscaler="ESRGAN_9000")


def test_unknown_sampler_fails_before_any_work(ctx: AtelierContext) -> None:
    with pytest.raises(ValueError, match="Euler a"):
        t2i(ctx, sampler_name="Warp Drive")


def test_interrupt_stops_the_job_and_keeps_partial_images(ctx: AtelierContext) -> None:
    control = JobControl()
    control.listeners.append(lambda p: control.interrupted.set() if p.step >= 2 else None)
    request = Txt2ImgRequest(prompt="x", checkpoint="tiny-sd1", width=64, height=64, steps=20, n_iter=3, seed=1)
    result = ctx.engine.txt2img(request, control)
    assert result.interrupted and len(result.images) == 1
    assert control.progress.step < 20


# -- img2img / inpaint ----------------------------------------------------------------------
def test_img2img_resizes_and_records_denoising(ctx: AtelierContext) -> None:
    request = Img2ImgRequest(prompt="x", checkpoint="tiny-sd1", init_images=[gradient(96)], seed=4,
                             denoising_strength=0.5, resize_mode=1, **SMALL)
    result = ctx.engine.img2img(request)
    assert result.images[0].size == (64, 64)
    assert "Denoising strength: 0.5" in result.infotexts[0]
    assert result.paths[0].parent.parent.name == "img2img-images"


def test_latent_upscale_resize_mode_runs(ctx: AtelierContext) -> None:
    request = Img2ImgRequest(prompt="x", checkpoint="tiny-sd1", init_images=[gradient(32)], seed=4,
                             resize_mode=3, **SMALL)
    assert ctx.engine.img2img(request).images[0].size == (64, 64)


def _mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))
    return mask


@pytest.mark.parametrize("checkpoint", ["tiny-sd1", "tiny-sd1-inpaint"])
@pytest.mark.parametrize("full_res", [False, True])
def test_inpaint_keeps_pixels_outside_the_mask(ctx: AtelierContext, checkpoint: str, full_res: bool) -> None:
    source = gradient()
    request = Img2ImgRequest(prompt="x", checkpoint=checkpoint, init_images=[source], mask=_mask(), seed=9,
                             denoising_strength=0.9, mask_blur=2, inpaint_full_res=full_res,
                             inpaint_full_res_padding=8, **SMALL)
    result = ctx.engine.img2img(request)
    out, src = pixels(result.images[0]), pixels(source)
    far = np.ones((64, 64), bool)
    far[16:48, 16:48] = False  # mask (24..40) grown by blur and margin
    assert np.abs(out[far] - src[far]).max() <= 1
    assert np.abs(out[28:36, 28:36] - src[28:36, 28:36]).mean() > 2  # the masked area was repainted
    assert "Mask blur: 2" in result.infotexts[0]


@pytest.mark.parametrize("fill", list(InpaintingFill))
def test_every_masked_content_mode_runs(ctx: AtelierContext, fill: InpaintingFill) -> None:
    request = Img2ImgRequest(prompt="x", checkpoint="tiny-sd1", init_images=[gradient()], mask=_mask(), seed=9,
                             inpainting_fill=fill, inpainting_mask_invert=1, **SMALL)
    assert ctx.engine.img2img(request).images[0].size == (64, 64)


def test_txt2img_works_on_an_inpainting_checkpoint(ctx: AtelierContext) -> None:
    assert t2i(ctx, checkpoint="tiny-sd1-inpaint", seed=1).images[0].size == (64, 64)


# -- model manager ------------------------------------------------------------------------
def test_modes_share_one_copy_of_the_components(ctx: AtelierContext) -> None:
    loaded = ctx.manager.checkpoint("tiny-sd1")
    t, i, p = (loaded.pipeline(m) for m in ("txt2img", "img2img", "inpaint"))
    assert t.unet is i.unet is p.unet and t.vae is i.vae is p.vae and t.text_encoder is i.text_encoder


def test_switching_back_is_a_cache_hit(ctx: AtelierContext) -> None:
    ctx.manager.checkpoint("tiny-sd1")
    ctx.manager.checkpoint("tiny-sd1-b")
    loads = len(ctx.manager.loads)
    hits = ctx.cache.stats.hits
    ctx.manager.checkpoint("tiny-sd1")
    ctx.manager.checkpoint("tiny-sd1-b")
    assert len(ctx.manager.loads) == loads  # no second disk read
    assert ctx.cache.stats.hits == hits + 2


def test_cache_budget_evicts_old_models(make_context, tiny_models_dir: Path) -> None:
    small = make_context(tiny_models_dir)
    small.cache.budget_bytes = 1  # only the pinned current model may stay
    small.manager.checkpoint("tiny-sd1")
    small.manager.checkpoint("tiny-sd1-b")
    assert small.cache.keys() == [("checkpoint", str(small.catalog.find_checkpoint("tiny-sd1-b").path))]
    small.manager.checkpoint("tiny-sd1")
    assert [e.name for e in small.manager.loads] == ["tiny-sd1.safetensors", "more/tiny-sd1-b.safetensors",
                                                     "tiny-sd1.safetensors"]


def test_vae_override_changes_decoding_and_automatic_restores(ctx: AtelierContext) -> None:
    base = t2i(ctx, seed=11)
    ctx.manager.set_vae("tiny-vae.safetensors")
    try:
        other = t2i(ctx, seed=11)
        assert "VAE: tiny-vae.safetensors" in other.infotexts[0]
        assert not np.array_equal(pixels(base.images[0]), pixels(other.images[0]))
    finally:
        ctx.manager.set_vae("Automatic")
    assert np.array_equal(pixels(base.images[0]), pixels(t2i(ctx, seed=11).images[0]))
    with pytest.raises(LookupError, match="tiny-vae"):
        ctx.manager.set_vae("missing-vae.pt")


def test_v_prediction_yaml_sidecar(make_context, tmp_path: Path) -> None:
    from tests.factory import build_checkpoint

    models = tmp_path / "vmodels"
    path = build_checkpoint(models, "sd1", "tiny-v")
    path.with_suffix(".yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n")
    context = make_context(models)
    loaded = context.manager.checkpoint("tiny-v")
    assert loaded.scheduler_config["prediction_type"] == "v_prediction"
    assert "(v)" in loaded.architecture.label


def test_sdxl_refiner_takes_over_at_the_switch_point(ctx: AtelierContext) -> None:
    plain = t2i(ctx, checkpoint="tiny-sdxl", seed=8, steps=8)
    refined = t2i(ctx, checkpoint="tiny-sdxl", seed=8, steps=8, refiner_checkpoint="tiny-sdxl-refiner",
                  refiner_switch_at=0.5)
    assert not np.array_equal(pixels(plain.images[0]), pixels(refined.images[0]))
    assert "Refiner: tiny-sdxl-refiner" in refined.infotexts[0] and "Refiner switch at: 0.5" in refined.infotexts[0]
    assert ctx.manager.current.info.name == "tiny-sdxl.safetensors"  # the refiner is not made current
    with_hires = t2i(ctx, checkpoint="tiny-sdxl", seed=8, steps=4, refiner_checkpoint="tiny-sdxl-refiner",
                     refiner_switch_at=0.5, enable_hr=True, hr_scale=1.5)
    assert with_hires.images[0].size == (96, 96)
    with pytest.raises(ValueError, match="refiner needs SDXL"):
        t2i(ctx, checkpoint="tiny-sd1", refiner_checkpoint="tiny-sdxl-refiner", refiner_switch_at=0.5)
    with pytest.raises(ValueError, match="SDXL refiner"):
        t2i(ctx, checkpoint="tiny-sdxl-refiner")


def test_variation_batches_keep_the_seed_and_advance_the_subseed(ctx: AtelierContext) -> None:
    result = t2i(ctx, seed=40, subseed=70, subseed_strength=0.3, batch_size=2)
    assert result.seeds == [40, 40] and result.subseeds == [70, 71]


def test_infotext_model_name_is_the_file_stem(ctx: AtelierContext) -> None:
    result = t2i(ctx, checkpoint="more/tiny-sd1-b.safetensors", seed=1)
    assert "Model: tiny-sd1-b," in result.infotexts[0] and result.info()["sd_model_name"] == "tiny-sd1-b"


def test_the_saved_checkpoint_choice_is_used_after_a_restart(make_context, tiny_models_dir: Path) -> None:
    first = make_context(tiny_models_dir)
    first.settings_store.update({"sd_model_checkpoint": "tiny-sdxl.safetensors"})
    again = AtelierContext(AppConfig(data_dir=first.config.data_dir, models_dir=tiny_models_dir,
                                     hash_in_background=False))
    try:
        assert again.manager.resolve(None).name == "tiny-sdxl.safetensors"
        assert "Model: tiny-sdxl" in again.engine.txt2img(Txt2ImgRequest(prompt="x", **SMALL)).infotexts[0]
    finally:
        again.close()


def test_live_previews_appear_every_n_steps(ctx: AtelierContext) -> None:
    control = JobControl(preview_every=2)
    previews = []
    control.listeners.append(lambda p: previews.append((p.step, p.preview)) if p.preview is not None else None)
    ctx.engine.txt2img(Txt2ImgRequest(prompt="x", checkpoint="tiny-sd1", seed=2, **SMALL), control)
    assert previews and previews[0][1].size == (8, 8) and previews[0][1].mode == "RGB"
    assert control.progress.step == SMALL["steps"] and control.progress.fraction == 1.0


# -- prompts: LoRA tags and styles --------------------------------------------------------
def test_lora_tags_change_the_image_and_are_recorded(ctx: AtelierContext) -> None:
    base = t2i(ctx, seed=31)
    zero = t2i(ctx, seed=31, prompt="a red fox <lora:tiny-lora:0>")
    full = t2i(ctx, seed=31, prompt="a red fox <lora:tiny-lora:1>")
    assert np.array_equal(pixels(base.images[0]), pixels(zero.images[0]))
    assert not np.array_equal(pixels(base.images[0]), pixels(full.images[0]))
    assert full.infotexts[0].startswith("a red fox <lora:tiny-lora:1>\n")
    assert 'Lora hashes: "tiny-lora: ' in full.infotexts[0]
    assert np.array_equal(pixels(base.images[0]), pixels(t2i(ctx, seed=31).images[0]))  # removed again


def test_missing_or_mismatched_lora_warns_but_generates(ctx: AtelierContext) -> None:
    result = t2i(ctx, seed=1, prompt="x <lora:nope:1> <lora:tiny-xl-lora:1>")
    assert result.images and any("nope" in w for w in result.warnings)
    assert any("tiny-xl-lora" in w for w in result.warnings)
    assert "nope" in result.info()["warnings"][0] or "nope" in " ".join(result.info()["warnings"])


def test_styles_are_applied_and_recorded_in_the_prompt(ctx: AtelierContext) -> None:
    ctx.styles.create_from_prompt("moody", "{prompt}, dramatic light", "sunny")
    result = t2i(ctx, seed=2, prompt="a tower", styles=["moody", "ghost-style"])
    assert result.infotexts[0].startswith("a tower, dramatic light\nNegative prompt: sunny")
    assert any("ghost-style" in w for w in result.warnings)


# -- prompts: A1111 syntax through the engine -----------------------------------------------
def _same(a: GenerationResult, b: GenerationResult) -> bool:
    return np.array_equal(pixels(a.images[0]), pixels(b.images[0]))


def test_clip_skip_two_runs_and_changes_the_image(ctx: AtelierContext) -> None:
    one, two = t2i(ctx, seed=3), t2i(ctx, seed=3, clip_skip=2)
    assert not _same(one, two) and "Clip skip: 2" in two.infotexts[0]


def test_attention_weights_change_the_conditioning(ctx: AtelierContext) -> None:
    plain = t2i(ctx, seed=4, prompt="a red fox")
    assert _same(plain, t2i(ctx, seed=4, prompt="a red (fox:1.0)"))
    assert not _same(plain, t2i(ctx, seed=4, prompt="a red (fox:1.6)"))


def test_prompt_editing_switches_mid_run(ctx: AtelierContext) -> None:
    cat, dog = t2i(ctx, seed=5, prompt="a cat"), t2i(ctx, seed=5, prompt="a dog")
    edited = t2i(ctx, seed=5, prompt="a [cat:dog:0.5]")
    assert not _same(edited, cat) and not _same(edited, dog)
    assert _same(cat, t2i(ctx, seed=5, prompt="a [cat:dog:100]"))  # switch after the last step
    assert not _same(cat, t2i(ctx, seed=5, prompt="a [cat|dog]"))  # alternation


def test_long_prompts_are_chunked_not_truncated(ctx: AtelierContext) -> None:
    words = " ".join(["castle"] * 80)
    base = t2i(ctx, seed=6, prompt=words + " red")
    assert not _same(base, t2i(ctx, seed=6, prompt=words + " blue"))  # token 81 still counts
    assert not _same(t2i(ctx, seed=6, prompt="a fox, forest"), t2i(ctx, seed=6, prompt="a fox BREAK forest"))


def test_composable_and_is_rejected_with_a_message(ctx: AtelierContext) -> None:
    with pytest.raises(ValueError, match="AND"):
        t2i(ctx, prompt="a cat AND a dog")


def test_textual_inversion_by_file_name(ctx: AtelierContext, make_context, tiny_models_dir: Path) -> None:
    assert ctx.embeddings.find("tiny-ti") is not None
    with_ti = t2i(ctx, seed=7, prompt="a photo of tiny-ti")
    assert 'TI hashes: "tiny-ti: ' in with_ti.infotexts[0]
    without = make_context(tiny_models_dir)
    without.embeddings.folders = []
    without.embeddings.refresh()
    plain = t2i(without, seed=7, prompt="a photo of tiny-ti")
    assert "TI hashes" not in plain.infotexts[0] and not _same(plain, with_ti)


def test_sdxl_prompt_features(ctx: AtelierContext) -> None:
    base = t2i(ctx, checkpoint="tiny-sdxl", seed=9, prompt="a red fox")
    assert not _same(base, t2i(ctx, checkpoint="tiny-sdxl", seed=9, prompt="a red (fox:1.5)"))
    assert not _same(base, t2i(ctx, checkpoint="tiny-sdxl", seed=9, prompt="a red [fox:cat:0.5]"))


def test_unchanged_prompts_are_not_encoded_again(ctx: AtelierContext, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.prompts import PromptEncoder

    calls: list[list[str]] = []
    original = PromptEncoder._encode

    def counting(self, texts, clip_skip):
        calls.append(list(texts))
        return original(self, texts, clip_skip)

    monkeypatch.setattr(PromptEncoder, "_encode", counting)
    t2i(ctx, seed=1, prompt="a unique cached prompt")
    first = len(calls)
    assert first > 0
    t2i(ctx, seed=2, prompt="a unique cached prompt", cfg_scale=5)  # like an X/Y/Z cell: only CFG differs
    assert len(calls) == first
    t2i(ctx, seed=2, prompt="a unique cached prompt <lora:tiny-lora:1>")  # text-encoder weights changed
    assert len(calls) > first
    repeat = t2i(ctx, seed=7, prompt="a photo of tiny-ti")
    again = t2i(ctx, seed=7, prompt="a photo of tiny-ti")  # cache hit keeps TI hashes
    assert 'TI hashes: "tiny-ti: ' in again.infotexts[0] and again.infotexts[0] == repeat.infotexts[0]
