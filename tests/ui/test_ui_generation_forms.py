"""The generation side of the UI through its plain functions: img2img sub-modes (sketch,
inpaint editor, inpaint upload, batch folder), the gallery buttons, send-to, quick settings,
the Settings tab, TAESD previews and out-of-memory notices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.outputs import read_infotext
from webui.ui.generation import gallery as gallery_actions
from webui.ui.settings import actions as settings_actions
from webui.ui.generation import actions
from webui.ui.generation.img2img_sources import editor_composite, editor_mask, pick_sources, SourceError

FORM = dict(prompt="a lighthouse", negative_prompt="fog", sampler_name="Euler", scheduler="Automatic", steps=4,
            width=64, height=64, n_iter=1, batch_size=1, cfg_scale=7.0, seed=21, subseed=-1, subseed_strength=0.0)
IMG2IMG = dict(FORM, resize_mode="Just resize", masked_content="fill", inpaint_area="Whole picture",
               mask_mode="Inpaint masked", denoising_strength=0.6, mask_blur=0, inpaint_full_res_padding=8)
BLUE = (30, 120, 200)


@pytest.fixture(scope="module")
def ctx(ctx: AtelierContext) -> AtelierContext:
    actions.select_checkpoint(ctx, ctx.catalog.find_checkpoint("tiny-sd1").title)
    return ctx


def _square_layer(size: int = 64, box: tuple = (16, 16, 48, 48)) -> Image.Image:
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), box)
    return layer


def _editor(background: Image.Image, *layers: Image.Image) -> dict:
    composite = background.convert("RGBA")
    for layer in layers:
        composite = Image.alpha_composite(composite, layer)
    return {"background": background, "layers": list(layers), "composite": composite}


# -- img2img sub-modes ---------------------------------------------------------------------

def test_editor_mask_is_the_painted_pixels_of_every_layer() -> None:
    second = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    second.paste((255, 0, 0, 90), (0, 0, 4, 4))  # half-transparent strokes count too
    mask = np.asarray(editor_mask(_editor(Image.new("RGB", (64, 64), BLUE), _square_layer(), second)))
    assert mask[30, 30] == 255 and mask[2, 2] == 255 and mask[60, 60] == 0 and mask[10, 30] == 0
    assert editor_mask(_editor(Image.new("RGB", (64, 64)), Image.new("RGBA", (64, 64)))) is None
    assert editor_mask(None) is None


def test_sketch_composite_is_the_init_image_with_white_canvas() -> None:
    canvas = {"background": None, "layers": [_square_layer()], "composite": _square_layer()}
    image, mask = pick_sources("sketch", {"sketch": canvas})
    assert mask is None and image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    assert editor_composite(_editor(Image.new("RGB", (8, 8), BLUE))).getpixel((1, 1)) == BLUE


@pytest.mark.parametrize("mode,form,message", [
    ("img2img", {}, "Upload an image"),
    ("sketch", {}, "sketch"),
    ("inpaint", {"inpaint_editor": {"background": None, "layers": [], "composite": None}}, "Upload an image"),
    ("inpaint", {"inpaint_editor": _editor(Image.new("RGB", (64, 64)))}, "mask is empty"),
    ("inpaint_upload", {"inpaint_image": Image.new("RGB", (64, 64))}, "both an image and a mask"),
])
def test_each_sub_tab_says_what_it_misses(mode: str, form: dict, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        pick_sources(mode, form)


def test_inpaint_editor_repaints_only_the_brushed_square(ctx: AtelierContext) -> None:
    editor = _editor(Image.new("RGB", (64, 64), BLUE), _square_layer())
    result = actions.generate_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="inpaint", inpaint_editor=editor,
                                                        init_image=Image.new("RGB", (64, 64), (0, 0, 0))))
    pixels = np.asarray(result.images[0])
    assert tuple(pixels[2, 2]) == BLUE  # outside the painted square: the editor's background, kept
    assert tuple(pixels[32, 32]) != BLUE
    assert "Masked content: fill" in result.infotexts[0]


def test_active_sub_tab_decides_the_inputs(ctx: AtelierContext) -> None:
    """The img2img tab ignores a mask uploaded on the inpaint-upload tab (A1111 semantics)."""
    mask = Image.new("L", (64, 64), 255)
    result = actions.generate_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="img2img", denoising_strength=0.3,
                                                        init_image=Image.new("RGB", (64, 64), BLUE),
                                                        inpaint_image=Image.new("RGB", (64, 64)), inpaint_mask=mask))
    assert "Masked content" not in result.infotexts[0]
    upload = actions.generate_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="inpaint_upload",
                                                        inpaint_image=Image.new("RGB", (64, 64), BLUE),
                                                        inpaint_mask=mask))
    assert "Masked content: fill" in upload.infotexts[0]


def _folder_of_images(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for number, name in enumerate(names):
        Image.new("RGB", (64, 64), (40 * number, 90, 160)).save(folder / name)
    return folder


def _served(ctx: AtelierContext, tmp_path: Path) -> Path:
    """A fresh folder inside the outputs folder (batch folders must be in a served folder)."""
    folder = ctx.outputs_dir / "batch-tests" / tmp_path.name
    folder.mkdir(parents=True)
    return folder


def test_batch_folder_processes_every_image_with_same_named_masks(ctx: AtelierContext, tmp_path: Path) -> None:
    tmp_path = _served(ctx, tmp_path)
    inputs = _folder_of_images(tmp_path / "in", ["a.png", "b.jpg"])
    (inputs / "notes.txt").write_text("not an image")
    (inputs / "c.png").write_bytes(b"broken")
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (64, 64), 255).save(masks / "b.png")
    out = tmp_path / "out"
    result = actions.generate_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="batch", batch_input_dir=str(inputs),
                                                        batch_output_dir=str(out), batch_mask_dir=str(masks)))
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert len(result.images) == 2 and any("c.png" in w for w in result.warnings)
    infotext_b = read_infotext(Image.open(out / "b.png"))
    assert "Masked content: fill" in infotext_b and "Masked content" not in read_infotext(Image.open(out / "a.png"))


def test_batch_without_output_dir_uses_the_img2img_outputs(ctx: AtelierContext, tmp_path: Path) -> None:
    tmp_path = _served(ctx, tmp_path)
    inputs = _folder_of_images(tmp_path / "in", ["only.png"])
    result = actions.generate_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="batch", batch_input_dir=str(inputs)))
    assert result.paths and result.paths[0].parent == ctx.writer.folder("img2img")


@pytest.mark.parametrize("dirs,message", [
    (dict(batch_input_dir=""), "Input directory is empty"),
    (dict(batch_input_dir="{served}/no-such-folder"), "does not exist"),
    (dict(batch_input_dir="relative/path"), "absolute path"),
    (dict(batch_input_dir="{empty}"), "holds no images"),
    (dict(batch_input_dir="{images}", batch_output_dir="{images}"), "must differ"),
    (dict(batch_input_dir="{images}", batch_mask_dir="{served}/no-masks"), "mask directory"),
])
def test_batch_folder_bad_paths_are_clear_messages(ctx: AtelierContext, tmp_path: Path, dirs: dict,
                                                   message: str) -> None:
    served = _served(ctx, tmp_path)
    (served / "empty").mkdir()
    images = _folder_of_images(served / "images", ["x.png"])
    fields = {k: v.format(empty=served / "empty", images=images, served=served) for k, v in dirs.items()}
    with pytest.raises(actions.UserError, match=message):
        actions.submit_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="batch", **fields))


# -- gallery buttons and send-to -------------------------------------------------------------

def test_save_copies_the_selected_image_with_its_infotext(ctx: AtelierContext) -> None:
    result = actions.generate_form(ctx, "txt2img", dict(FORM, n_iter=2))
    entries = gallery_actions.gallery_entries(result)
    path = gallery_actions.save_selected(ctx, entries, 1)
    assert path.parent == ctx.writer.root / "saved"
    assert read_infotext(Image.open(path)) == result.infotexts[1] == path.with_suffix(".txt").read_text()
    assert "Seed: 22" in result.infotexts[1]
    with pytest.raises(actions.UserError, match="gallery is empty"):
        gallery_actions.save_selected(ctx, [], None)


def test_outputs_folder_and_file_manager_only_for_local_clients(ctx: AtelierContext) -> None:
    folder = gallery_actions.outputs_folder(ctx, "txt2img")
    assert folder.is_dir() and folder == ctx.writer.folder("txt2img")
    assert gallery_actions.is_local_client("127.0.0.1") and gallery_actions.is_local_client("::1")
    assert not gallery_actions.is_local_client("192.168.1.20") and not gallery_actions.is_local_client(None)
    assert gallery_actions.open_in_file_manager(folder, "10.0.0.5") is False


def test_send_to_img2img_gives_the_image_and_every_field(ctx: AtelierContext) -> None:
    result = actions.generate_form(ctx, "img2img", dict(IMG2IMG, img2img_mode="inpaint_upload", seed=77,
                                                        mask_mode="Inpaint not masked", inpaint_area="Only masked",
                                                        inpaint_image=Image.new("RGB", (64, 64), BLUE),
                                                        inpaint_mask=Image.new("L", (64, 64), 255)))
    image, values = gallery_actions.send_values(gallery_actions.selected(gallery_actions.gallery_entries(result), 0))
    assert image is result.images[0]
    assert values["seed"] == 77 and values["prompt"] == "a lighthouse" and values["steps"] == 4
    assert values["masked_content"] == "fill" and values["mask_mode"] == "Inpaint not masked"
    assert values["inpaint_area"] == "Only masked" and values["denoising_strength"] == 0.6


# -- quick settings and the Settings tab -----------------------------------------------------

def test_quick_settings_vae_and_clip_skip_persist(ctx: AtelierContext) -> None:
    assert settings_actions.vae_choices(ctx)[:2] == ["Automatic", "None"] and "tiny-vae.safetensors" in \
        settings_actions.vae_choices(ctx)
    try:
        settings_actions.select_vae(ctx, "tiny-vae.safetensors")
        assert ctx.manager.vae_choice == "tiny-vae.safetensors"
        assert '"sd_vae": "tiny-vae.safetensors"' in ctx.settings_store.path.read_text()
        with pytest.raises(actions.UserError, match="nope.pt"):
            settings_actions.select_vae(ctx, "nope.pt")
        assert ctx.manager.vae_choice == "tiny-vae.safetensors"
        settings_actions.set_clip_skip(ctx, 2)
        result = actions.generate_form(ctx, "txt2img", dict(FORM))
        assert "Clip skip: 2" in result.infotexts[0] and "VAE: tiny-vae" in result.infotexts[0]
    finally:
        settings_actions.restore_defaults(ctx)
    assert ctx.manager.vae_choice == "Automatic" and ctx.settings.CLIP_stop_at_last_layers == 1


def test_settings_apply_moves_outputs_and_restore_defaults_keeps_the_checkpoint(ctx: AtelierContext,
                                                                                 tmp_path: Path) -> None:
    values = dict(zip(settings_actions.TAB_KEYS, settings_actions.tab_values(ctx)))
    checkpoint = ctx.settings.sd_model_checkpoint
    with pytest.raises(actions.UserError, match="samples_format"):
        settings_actions.apply_tab(ctx, {**values, "samples_format": "gif", "samples_save": False})
    assert ctx.settings.samples_save is True  # all or nothing
    settings_actions.apply_tab(ctx, {**values, "samples_format": "jpg", "outdir_txt2img_samples": str(tmp_path / "t2i"),
                                     "outdir_save": str(tmp_path / "keep")})
    result = actions.generate_form(ctx, "txt2img", dict(FORM))
    assert result.paths[0].parent.parent == tmp_path / "t2i" and result.paths[0].suffix == ".jpg"
    assert gallery_actions.save_selected(ctx, gallery_actions.gallery_entries(result), 0).parent == tmp_path / "keep"
    settings_actions.apply_tab(ctx, {**values, "samples_save": False})
    unsaved = actions.generate_form(ctx, "txt2img", dict(FORM))
    assert unsaved.images and unsaved.paths == []
    assert gallery_actions.save_selected(ctx, gallery_actions.gallery_entries(unsaved), 0).exists()
    settings = settings_actions.restore_defaults(ctx)
    assert settings.samples_format == "png" and settings.outdir_txt2img_samples == ""
    assert settings.sd_model_checkpoint == checkpoint and ctx.writer.fmt == "png"
    assert actions.generate_form(ctx, "txt2img", dict(FORM)).paths[0].parent == ctx.writer.folder("txt2img")


# -- failures shown as notices -------------------------------------------------------------

@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   MemoryError()])
def test_out_of_memory_is_a_notice_suggesting_smaller_sizes(ctx: AtelierContext, monkeypatch: pytest.MonkeyPatch,
                                                            error: BaseException) -> None:
    def fail(request, control):
        raise error

    monkeypatch.setattr(ctx.engine, "txt2img", fail)
    with pytest.raises(actions.UserError, match="Out of memory: try a smaller image size or batch size"):
        actions.generate_form(ctx, "txt2img", dict(FORM))
    monkeypatch.undo()
    assert actions.generate_form(ctx, "txt2img", dict(FORM)).images  # the app keeps working


# -- the page itself -----------------------------------------------------------------------

def test_ui_has_the_sub_tabs_buttons_and_named_endpoints(ctx: AtelierContext) -> None:
    from webui.ui.app import build_ui

    demo = build_ui(ctx)
    elem_ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"img2img_tab_img2img", "img2img_tab_sketch", "img2img_tab_inpaint", "img2img_tab_inpaint_upload",
            "img2img_tab_batch", "img2img_image", "img2img_sketch", "img2img_inpaint_editor",
            "img2img_inpaint_upload_image", "img2img_inpaint_upload_mask", "img2img_batch_input_dir",
            "img2img_batch_output_dir", "img2img_batch_mask_dir", "txt2img_generate", "img2img_generate",
            "txt2img_gallery", "txt2img_interrupt", "txt2img_prompt", "txt2img_seed", "quick_checkpoint",
            "quick_sd_vae", "quick_clip_skip", "txt2img_send_to_faces", "txt2img_save", "settings_restore_defaults",
            "pnginfo_send_to_img2img"} <= elem_ids
    api_names = {fn.api_name for fn in demo.fns.values()}
    mine = ("txt2img_", "img2img_", "pnginfo_", "quick_", "setting")
    unnamed = [(fn.api_name, demo.blocks[block_id].elem_id) for fn in demo.fns.values() for block_id, _ in fn.targets
               if (getattr(demo.blocks.get(block_id), "elem_id", None) or "").startswith(mine)
               and (not fn.api_name or fn.api_name.startswith("lambda"))]
    assert unnamed == []  # every handler a user triggers on these tabs is a named endpoint
    assert {"txt2img", "img2img", "png_info", "txt2img_interrupt", "txt2img_send_to_inpaint", "img2img_save",
            "png_info_to_txt2img", "quick_sd_vae", "settings_apply"} <= api_names


# -- TAESD live previews ---------------------------------------------------------------------

def _write_taesd(folder: Path, name: str, layout: str, seed: int = 0) -> torch.nn.Module:
    """A random-weight TAESD decoder in A1111's ``models/VAE-taesd`` layout ("original": the
    madebyollin nn.Sequential keys in a .pth; "diffusers": DecoderTiny keys in .safetensors)."""
    from diffusers import AutoencoderTiny
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    decoder = AutoencoderTiny().decoder.eval()
    state = {k: v.detach().clone().contiguous() for k, v in decoder.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "original":
        renamed = {}
        for key, value in state.items():
            index, rest = key.removeprefix("layers.").split(".", 1)
            renamed[f"{int(index) + 1}.{rest}"] = value
        torch.save(renamed, folder / f"{name}.pth")
    else:
        save_file({f"decoder.{k}": v for k, v in state.items()}, str(folder / f"{name}.safetensors"))
    return decoder


@pytest.fixture
def taesd_ctx(make_context, tiny_models_dir: Path, tmp_path: Path) -> AtelierContext:
    """A context whose models folder has the tiny checkpoints and a VAE-taesd folder of its own."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "Stable-diffusion").symlink_to(tiny_models_dir / "Stable-diffusion")
    context = make_context(models)
    actions.select_checkpoint(context, context.catalog.find_checkpoint("tiny-sd1").title)
    return context


def _last_preview(context: AtelierContext) -> Image.Image:
    job = actions.submit_form(context, "txt2img", dict(FORM, steps=2))
    actions.finish(job)
    return job.control.progress.preview


def test_taesd_preview_decodes_with_the_file_and_falls_back_without(taesd_ctx: AtelierContext) -> None:
    from pipelines.diffusion.taesd import TAESD_FOLDER, TaesdPreviewer
    from pipelines.diffusion.preview import rgb_to_image

    values = dict(zip(settings_actions.TAB_KEYS, settings_actions.tab_values(taesd_ctx)))
    message = settings_actions.apply_tab(taesd_ctx, {**values, "show_progress_type": "TAESD",
                                                     "show_progress_every_n_steps": 1})
    assert "No TAESD decoder in" in message and "VAE-taesd" in message
    assert _last_preview(taesd_ctx).size == (8, 8)  # no weights yet: the cheap ×1 approximation

    folder = taesd_ctx.config.models_dir / TAESD_FOLDER
    decoder = _write_taesd(folder, "taesd_decoder", "original")
    assert _last_preview(taesd_ctx).size == (64, 64)  # the decoder upsamples ×8 like the VAE
    previewer = taesd_ctx.engine.previewer
    assert isinstance(previewer, TaesdPreviewer)
    assert taesd_ctx.cache.get(("taesd", str(folder / "taesd_decoder.pth"))) is not None

    latents = torch.randn(1, 4, 8, 8)
    arch = taesd_ctx.manager.current.architecture
    with torch.no_grad():
        expected = rgb_to_image(decoder(latents)[0])
    assert np.array_equal(np.asarray(previewer(latents, arch)), np.asarray(expected))  # keys remapped right

    settings_actions.apply_tab(taesd_ctx, {**values, "show_progress_type": "Approx cheap",
                                           "show_progress_every_n_steps": 1})
    assert _last_preview(taesd_ctx).size == (8, 8)


def test_taesd_diffusers_layout_loads_and_a_broken_file_falls_back(taesd_ctx: AtelierContext) -> None:
    from pipelines.diffusion.taesd import TAESD_FOLDER, TaesdPreviewer, decoder_file
    from pipelines.models.architecture import Architecture, ModelFamily

    folder = taesd_ctx.config.models_dir / TAESD_FOLDER
    _write_taesd(folder, "taesd_decoder", "diffusers", seed=3)
    previewer = TaesdPreviewer(taesd_ctx.config.models_dir, taesd_ctx.cache, taesd_ctx.policy)
    arch = taesd_ctx.manager.current.architecture
    assert previewer(torch.randn(1, 4, 8, 8), arch).size == (64, 64)
    xl = Architecture(ModelFamily.SDXL)
    assert decoder_file(taesd_ctx.config.models_dir, xl) is None  # SDXL needs taesdxl_decoder
    _write_taesd(folder, "taesdxl_decoder", "original")
    assert decoder_file(taesd_ctx.config.models_dir, xl) == folder / "taesdxl_decoder.pth"
    (folder / "taesd_decoder.safetensors").unlink()
    (folder / "taesd_decoder.pth").write_bytes(b"not a tensor file")
    assert previewer(torch.randn(1, 4, 8, 8), arch).size == (8, 8)
