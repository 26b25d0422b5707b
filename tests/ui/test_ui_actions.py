"""The UI's actions: form values → engine → what the page shows, including bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.models.library import ModelKind
from webui.ui.generation import actions

FORM = dict(prompt="a lighthouse", negative_prompt="fog", sampler_name="Euler", scheduler="Automatic", steps=4,
            width=64, height=64, n_iter=1, batch_size=1, cfg_scale=7.0, seed=21, subseed=-1, subseed_strength=0.0)


@pytest.fixture(scope="module")
def ctx(ctx: AtelierContext) -> AtelierContext:
    """The shared context with tiny-sd1 selected, as a user would before generating."""
    actions.select_checkpoint(ctx, ctx.catalog.find_checkpoint("tiny-sd1").title)
    return ctx


def test_txt2img_form_generates_saves_and_reports_progress(ctx: AtelierContext) -> None:
    seen = []
    result = actions.txt2img(ctx, owner="session-a", on_progress=lambda job: seen.append(job.owner), **FORM)
    assert result.seeds == [21] and result.paths[0].exists()
    html = actions.result_html(result)
    assert "a lighthouse" in html and "Negative prompt: fog" in html and "Seed: 21" in html
    assert set(seen) <= {"session-a"}


def test_img2img_form_translates_labels(ctx: AtelierContext) -> None:
    source = Image.new("RGB", (64, 64), (30, 120, 200))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    result = actions.img2img(ctx, init_image=source, mask=mask, resize_mode="Crop and resize",
                             masked_content="fill", inpaint_area="Only masked", mask_mode="Inpaint not masked",
                             denoising_strength=0.6, mask_blur=0, inpaint_full_res_padding=8, **FORM)
    text = result.infotexts[0]
    assert "Mask mode: Inpaint not masked" in text and "Inpaint area: Only masked" in text
    assert "Masked content: fill" in text
    inside = np.asarray(result.images[0])[30, 30]
    assert tuple(inside) == (30, 120, 200)  # mask inverted: the centre is kept


@pytest.mark.parametrize("change,message", [
    (dict(width=70), "multiple of 8"),
    (dict(steps=0), "steps"),
    (dict(sampler_name="Nope"), "Euler a"),
    (dict(scheduler="Teleport"), "Karras"),
])
def test_bad_form_values_give_readable_messages(ctx: AtelierContext, change: dict, message: str) -> None:
    with pytest.raises(actions.UserError, match=message):
        actions.txt2img(ctx, **{**FORM, **change})


def test_img2img_without_an_image_is_a_user_error(ctx: AtelierContext) -> None:
    with pytest.raises(actions.UserError, match="Upload an image"):
        actions.img2img(ctx, init_image=None, **FORM)


def test_missing_checkpoint_message_names_the_folder(make_context, tmp_path: Path) -> None:
    empty = make_context(tmp_path / "nothing")
    with pytest.raises(actions.UserError, match=str(tmp_path / "nothing" / "Stable-diffusion")):
        actions.txt2img(empty, **FORM)


def test_selecting_a_broken_checkpoint_keeps_the_current_one(ctx: AtelierContext) -> None:
    current = ctx.manager.current
    with pytest.raises(actions.UserError, match="garbage.ckpt"):
        actions.select_checkpoint(ctx, "garbage.ckpt")
    assert ctx.manager.current is current
    errors = {card.name: card.error for card in ctx.library.cards(ModelKind.CHECKPOINT)}
    assert "garbage.ckpt" in errors["garbage.ckpt"] and errors["tiny-sd1.safetensors"] is None


def test_png_info_and_read_parameters_from_a_pasted_infotext(ctx: AtelierContext) -> None:
    result = actions.txt2img(ctx, **{**FORM, "seed": 5, "cfg_scale": 5.5})
    text, fields = actions.png_info(Image.open(result.paths[0]))
    assert text == result.infotexts[0]
    assert fields["seed"] == 5 and fields["cfg_scale"] == 5.5 and fields["prompt"] == "a lighthouse"
    assert actions.parse_prompt_box(text)["negative_prompt"] == "fog"
    assert actions.parse_prompt_box("just a prompt") is None
    assert actions.png_info(Image.new("RGB", (8, 8))) == ("", {})


def test_the_gradio_ui_builds_with_every_tab(ctx: AtelierContext) -> None:
    from webui.ui.app import build_ui

    demo = build_ui(ctx)
    labels = {getattr(block, "label", None) for block in demo.blocks.values()}
    assert {"txt2img", "img2img", "Faces", "Detect", "PNG Info", "Models", "Settings"} <= labels


def test_styles_save_apply_generate_and_delete(ctx: AtelierContext) -> None:
    actions.save_style(ctx, "noir", "{prompt}, film noir", "colour")
    assert "noir" in ctx.styles.names()
    assert actions.apply_styles(ctx, "a street", "", ["noir"]) == ("a street, film noir", "colour")
    result = actions.txt2img(ctx, **{**FORM, "styles": ["noir"]})
    assert result.infotexts[0].startswith("a lighthouse, film noir\nNegative prompt: fog, colour")
    with pytest.raises(actions.UserError, match="name"):
        actions.save_style(ctx, "  ", "x", "")
    assert ctx.styles.delete("noir") and "noir" not in ctx.styles.names()


def _xyz_values(x_type: str, x_values: str) -> dict[str, object]:
    """The X/Y/Z controls' values as the Script dropdown's inputs carry them (positional)."""
    from webui.ui.generation.scripts import SEP

    args = [x_type, x_values, [], "Steps", "2,3", [], "Nothing", "", [],
            True, True, False, False, False, False, False, 0, True]
    return {f"X/Y/Z plot{SEP}{i}": value for i, value in enumerate(args)}


def test_xyz_plot_from_the_script_controls(ctx: AtelierContext) -> None:
    from webui.server import builtin_extensions
    from webui.ui.generation.scripts import make_runner

    builtin_extensions(ctx)  # registers the built-in scripts into ctx.scripts
    runner = make_runner(ctx, "X/Y/Z plot", _xyz_values("Seed", "1-2"))
    job = actions.start(ctx, "txt2img", actions.txt2img_request(ctx, **FORM), "session-a", runner)
    result = actions.finish(job)
    assert len(result.images) == 5  # grid + 4 cells (sub images included)
    assert sorted(result.seeds[-4:]) == [1, 1, 2, 2]
    bad = make_runner(ctx, "X/Y/Z plot", _xyz_values("Sampler", "Nope"))
    with pytest.raises(actions.UserError, match="Nope"):
        actions.finish(actions.start(ctx, "txt2img", actions.txt2img_request(ctx, **FORM), "s", bad))
    assert make_runner(ctx, "None", _xyz_values("Seed", "1")) is None
    with pytest.raises(ValueError, match="script Loopback not found"):
        make_runner(ctx, "Loopback", {})


def test_token_counter_matches_a1111_chunks(ctx: AtelierContext) -> None:
    assert actions.token_counter(ctx, "a photo of a cat") == "5/75"
    assert actions.token_counter(ctx, " ".join(["castle"] * 80)) == "80/150"
    assert actions.token_counter(ctx, "a <lora:tiny-lora:1> cat") == "2/75"
    assert actions.token_counter(ctx, "a BREAK b") == "76/150"  # BREAK pads the first chunk to 75
