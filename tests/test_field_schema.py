"""The one field schema (pipelines/diffusion/fields.py): what is derived from it is what the
code declared by hand before, and one schema entry reaches every layer."""

from __future__ import annotations

import gradio as gr
import pytest
from pydantic import ValidationError, create_model

from pipelines.context import AtelierContext
from pipelines.diffusion.fields import (
    BY_NAME,
    FIELDS,
    Control,
    GenerationField,
    infotext_readers,
    int_fields,
    request_definitions,
    wire_definitions,
)
from pipelines.diffusion.infotext import (
    IMG2IMG_FIELDS,
    format_infotext,
    generation_params,
    request_fields_from_infotext,
)
from pipelines.diffusion.request import Img2ImgRequest, Txt2ImgRequest
from webui.api.schemas import Img2ImgBody, Txt2ImgBody
from webui.ui.generation import actions
from webui.ui.generation.field_controls import unplaced_controls
from webui.ui.generation.tab import generation_tab

# A field only this test declares: one entry, nothing else edited
SHARPNESS = GenerationField("sharpness", float, 0.0, ge=0.0, le=2.0, infotext=("Sharpness",), parse=float,
                            written=True, wire_default=0.5, wire_why="test: a wire default that differs",
                            label="Sharpness", control=Control("slider", 0.0, 2.0, 0.05))
SCHEMA = (*FIELDS, SHARPNESS)


def test_the_reading_tables_are_the_ones_declared_by_hand_before() -> None:
    simple = [(key, name) for key, name, _ in infotext_readers(FIELDS, "both")]
    assert sorted(simple) == sorted([
        ("Steps", "steps"), ("CFG scale", "cfg_scale"), ("Seed", "seed"), ("Size-1", "width"),
        ("Size-2", "height"), ("Variation seed", "subseed"), ("Variation seed strength", "subseed_strength"),
        ("Seed resize from-1", "seed_resize_from_w"), ("Seed resize from-2", "seed_resize_from_h"),
        ("Denoising strength", "denoising_strength"), ("Clip skip", "clip_skip"), ("VAE", "vae"),
        ("Refiner", "refiner_checkpoint"), ("Refiner switch at", "refiner_switch_at"), ("Mask blur", "mask_blur"),
        ("Masked area padding", "inpaint_full_res_padding"), ("Masked content", "inpainting_fill"),
        ("Inpaint area", "inpaint_full_res"), ("Mask mode", "inpainting_mask_invert"), ("Eta", "eta"),
        ("Eta DDIM", "eta"), ("Sigma churn", "s_churn"), ("Sigma tmin", "s_tmin"), ("Sigma tmax", "s_tmax"),
        ("Sigma noise", "s_noise"), ("Tiling", "tiling")])
    assert simple.index(("Eta", "eta")) < simple.index(("Eta DDIM", "eta"))  # "Eta DDIM" wins, as before
    assert [(key, name) for key, name, _ in infotext_readers(FIELDS, "hires")] == [
        ("Hires sampler", "hr_sampler_name"), ("Hires schedule type", "hr_scheduler"), ("Hires prompt", "hr_prompt"),
        ("Hires negative prompt", "hr_negative_prompt"), ("Hires CFG Scale", "hr_cfg"), ("Hires upscale", "hr_scale"),
        ("Hires resize-1", "hr_resize_x"), ("Hires resize-2", "hr_resize_y"),
        ("Hires steps", "hr_second_pass_steps"), ("Hires upscaler", "hr_upscaler")]
    assert IMG2IMG_FIELDS == {"mask_blur", "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding",
                              "inpainting_mask_invert"}
    assert set(actions.INT_FIELDS) == {"steps", "width", "height", "n_iter", "batch_size", "seed", "subseed",
                                       "mask_blur", "hr_second_pass_steps", "inpaint_full_res_padding"}


def test_engine_and_wire_defaults_differ_only_where_the_schema_says_why() -> None:
    assert Txt2ImgRequest().steps == 20 and Txt2ImgBody().steps == 50  # A1111: UI 20, API 50
    assert Img2ImgBody().inpaint_full_res is True and Img2ImgBody().inpaint_full_res_padding == 0
    assert Img2ImgBody().denoising_strength == Img2ImgRequest.model_fields["denoising_strength"].default == 0.75
    for spec in FIELDS:
        assert spec.wire_differs == bool(spec.wire_why), spec.name
        target = Img2ImgRequest if spec.scope == "img2img" else Txt2ImgRequest
        assert spec.name in target.model_fields, spec.name
        if spec.wire:
            body = Img2ImgBody if spec.scope == "img2img" else Txt2ImgBody
            if not spec.wire_differs:
                assert body.model_fields[spec.name].default == target.model_fields[spec.name].default, spec.name
    with pytest.raises(ValidationError):
        Txt2ImgRequest(steps=501)  # the range is the engine's; A1111 bodies check none
    assert Txt2ImgBody(steps=501).steps == 501
    assert BY_NAME["steps"].label == "Sampling steps"


def test_a_field_declared_once_reaches_infotext_api_body_and_ui_form(ctx: AtelierContext) -> None:
    request_model = create_model("SharpRequest", __base__=Txt2ImgRequest, **request_definitions([SHARPNESS]))
    body_model = create_model("SharpBody", __base__=Txt2ImgBody, **wire_definitions([SHARPNESS]))

    # engine request: default and range from the entry
    assert request_model().sharpness == 0.0
    with pytest.raises(ValidationError):
        request_model(sharpness=2.5)

    # infotext: written when set, read back into the field (not into ``extra``)
    request = request_model(prompt="a lighthouse", sharpness=1.25)
    params = generation_params(request, seed=1, subseed=1, model_name="tiny", model_hash=None, version="v",
                               schema=SCHEMA)
    text = format_infotext(request.prompt, "", params)
    assert "Sharpness: 1.25" in text and list(params)[-1] == "Version"
    back = request_fields_from_infotext(text, SCHEMA)
    assert back["sharpness"] == 1.25 and "Sharpness" not in back["extra"]
    assert request_fields_from_infotext(text)["extra"]["Sharpness"] == "1.25"  # the real schema lacks it
    assert "Sharpness" not in generation_params(request_model(), seed=1, subseed=1, model_name="tiny",
                                                model_hash=None, version="v", schema=SCHEMA)

    # API body: A1111's wire default, null means that default
    assert body_model().sharpness == 0.5 and body_model.model_validate({"sharpness": None}).sharpness == 0.5

    # UI form: the tab places it (label, range, engine default) and the ↙ read fills it
    with gr.Blocks():
        tab = generation_tab(ctx, "txt2img", SCHEMA)
    control = tab.fields["sharpness"]
    assert (control.label, control.minimum, control.maximum, control.value) == ("Sharpness", 0.0, 2.0, 0.0)
    assert control.elem_id == "txt2img_sharpness"
    updates = tab.form_updates(actions.form_values(back), text)
    assert updates[tab.form.index(control)] == 1.25
    assert int_fields((*FIELDS, GenerationField("grain", int, 0, label="Grain", control=Control("number"))))[-1] == "grain"


def test_the_real_forms_place_every_schema_control_themselves(ctx: AtelierContext) -> None:
    for kind in ("txt2img", "img2img"):
        with gr.Blocks():
            tab = generation_tab(ctx, kind)
        assert unplaced_controls(FIELDS, kind, tab.fields) == []  # no "More parameters" accordion
        for spec in FIELDS:
            if spec.control and spec.name in tab.fields:
                assert tab.fields[spec.name].label == spec.label
