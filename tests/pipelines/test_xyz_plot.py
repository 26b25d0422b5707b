"""X/Y/Z plot: value parsing, planning errors before any image, and real grids on tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.diffusion.request import Img2ImgRequest, Txt2ImgRequest
from pipelines.jobs import JobControl
from pipelines.outputs import read_infotext
from pipelines.scripts import axis_values as av
from pipelines.scripts import (
    XyzAxis,
    XyzOptions,
    axis_choices,
    list_axis_types,
    run_script,
    run_xyz_plot,
)

CELL = 64
LEGEND_LEFT = CELL * 3 // 4  # A1111: row labels take 3/4 of a cell


def base(**fields) -> Txt2ImgRequest:
    return Txt2ImgRequest(**{"prompt": "a red fox", "checkpoint": "tiny-sd1", "width": CELL, "height": CELL,
                             "steps": 2, "seed": 5, **fields})


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def no_generation(ctx: AtelierContext, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("generated before the plan was validated")
    monkeypatch.setattr(ctx.engine, "txt2img", refuse)
    monkeypatch.setattr(ctx.engine, "img2img", refuse)


# -- value parsing -------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("1-5", [1, 2, 3, 4, 5]),
    ("1-10 (+2)", [1, 3, 5, 7, 9]),
    ("1-10 (2)", [1, 3, 5, 7, 9]),
    ("10-1", [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
    ("10-1 (-3)", [10, 7, 4, 1]),
    ("1-10 [4]", [1, 4, 7, 10]),
    ("1-3 [5]", [1, 1, 2, 2, 3]),  # A1111 truncates evenly spaced whole numbers
    ("-1", [-1]),
    ("-5--3", [-5, -4, -3]),
    ("1 - 3, 7, 10-20 (+5)", [1, 2, 3, 7, 10, 15, 20]),
    (" 4 ,5", [4, 5]),
])
def test_int_values(text: str, expected: list[int]) -> None:
    assert av.parse_ints(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("0.5-1 [3]", [0.5, 0.75, 1.0]),
    ("5, 7.5", [5.0, 7.5]),
    ("1-3", [1.0, 2.0, 3.0]),
    ("0-1 (+0.1)", [round(0.1 * i, 10) for i in range(11)]),
    ("1-0 (-0.3)", [1.0, 0.7, 0.4, 0.1]),
    (".5-1 (+.25)", [0.5, 0.75, 1.0]),
    ("1e-3", [0.001]),
])
def test_float_values(text: str, expected: list[float]) -> None:
    assert av.parse_floats(text) == expected


def test_string_values_use_csv_quoting() -> None:
    assert av.parse_strings('cat, "dog, big", <lora:x:1>') == ["cat", "dog, big", "<lora:x:1>"]
    assert av.parse_strings("a,,b") == ["a", "", "b"]
    assert av.parse_strings("a\nb") == ["a", "b"]
    assert av.join_csv(["a", "b, c"]) == 'a,"b, c"'
    assert av.parse_sizes("512x768, 64 X 96") == [(512, 768), (64, 96)]


@pytest.mark.parametrize("parse, text, message", [
    (av.parse_ints, "", "no values"),
    (av.parse_ints, "1,,2", "empty value"),
    (av.parse_ints, "1,2,", "empty value"),
    (av.parse_ints, "abc", "'abc' is not a whole number"),
    (av.parse_ints, "1.5", "not a whole number"),
    (av.parse_ints, "1-2-3", "not a whole number"),
    (av.parse_ints, "1-10 (+2.5)", "not a whole number"),
    (av.parse_ints, "1-5 (0)", "step of 0"),
    (av.parse_ints, "1-5 (-1)", "never goes from 1 to 5"),
    (av.parse_ints, "1-5 [0]", "asks for 0 values"),
    (av.parse_ints, "1-100000000", "limit is"),
    (av.parse_ints, "1-5000, 1-6000", "more than"),
    (av.parse_floats, "x-1", "not a number"),
    (av.parse_floats, "0.5-1 [", "not a number"),
    (av.parse_floats, "nan-", "not a number"),
    (av.parse_sizes, "512", "not a size"),
    (av.parse_sizes, "512x", "not a size"),
    (av.parse_strings, "", "no values"),
])
def test_malformed_values_raise_value_error_with_the_item(parse, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(text)


# -- planning: nothing is generated when any value is wrong ---------------------------------
@pytest.mark.parametrize("x, y, message", [
    (XyzAxis("Steps", "1, 2"), XyzAxis("Sampler", "Euler a, Nope"), r"Y axis \(Sampler\).*'Nope'"),
    (XyzAxis("Checkpoint name", "tiny-sd1, missing-model"), XyzAxis(), r"X axis \(Checkpoint name\).*missing-model"),
    (XyzAxis("VAE", "tiny-vae, nope-vae"), XyzAxis(), r"X axis \(VAE\).*nope-vae"),
    (XyzAxis("Steps", "1, 0"), XyzAxis(), r"X axis \(Steps\) value 'Steps: 0'.*steps"),
    (XyzAxis("Steps", "1-"), XyzAxis(), r"X axis \(Steps\).*'1-'"),
    (XyzAxis("Size", "64x64, 65x64"), XyzAxis(), r"X axis \(Size\).*multiple of 8"),
    (XyzAxis("Prompt S/R", "wolf, dog"), XyzAxis(), r"did not find 'wolf'"),
    (XyzAxis("Schedule type", "Karras, Sideways"), XyzAxis(), r"unknown schedule type 'Sideways'"),
    (XyzAxis("Sampler", "DEIS"), XyzAxis("Schedule type", "KL Optimal"), r"cell X=DEIS, Y=Schedule type: KL Optimal"),
    (XyzAxis("Hires upscaler", "Latent, Magic"), XyzAxis(), r"unknown hires upscaler 'Magic'"),
    (XyzAxis("Styles", "no-such-style"), XyzAxis(), r"unknown styles no-such-style"),
    (XyzAxis("Wobble", "1"), XyzAxis(), r"unknown or unsupported X/Y/Z plot axis type 'Wobble'"),
])
def test_invalid_values_fail_before_generating(ctx: AtelierContext, monkeypatch: pytest.MonkeyPatch,
                                               x: XyzAxis, y: XyzAxis, message: str) -> None:
    no_generation(ctx, monkeypatch)
    with pytest.raises(ValueError, match=message):
        run_xyz_plot(ctx.engine, base(), x, y)


def test_txt2img_only_axes_are_refused_for_img2img(ctx: AtelierContext, monkeypatch: pytest.MonkeyPatch) -> None:
    no_generation(ctx, monkeypatch)
    request = Img2ImgRequest(prompt="x", width=CELL, height=CELL, init_images=[Image.new("RGB", (CELL, CELL))])
    with pytest.raises(ValueError, match="Hires steps is only available for txt2img"):
        run_xyz_plot(ctx.engine, request, XyzAxis("Hires steps", "1, 2"))


def test_grid_size_limit(ctx: AtelierContext, monkeypatch: pytest.MonkeyPatch) -> None:
    no_generation(ctx, monkeypatch)
    with pytest.raises(ValueError, match="megapixels"):
        run_xyz_plot(ctx.engine, base(), XyzAxis("Seed", "1-300"), options=XyzOptions(max_grid_megapixels=1))


# -- the UI's helpers ---------------------------------------------------------------------
def test_axis_types_and_choices(ctx: AtelierContext) -> None:
    required = ["Nothing", "Seed", "Var. seed", "Var. strength", "Steps", "Hires steps", "CFG Scale", "Prompt S/R",
                "Sampler", "Schedule type", "Checkpoint name", "Denoising", "Clip skip", "Size", "VAE",
                "Hires upscaler"]
    assert set(required) <= set(list_axis_types())
    assert "Hires steps" not in list_axis_types("img2img")
    assert "Euler a" in axis_choices(ctx, "Sampler")
    assert "Karras" in axis_choices(ctx, "Schedule type")
    titles = axis_choices(ctx, "Checkpoint name")
    assert any(t.startswith("tiny-sd1.safetensors [") for t in titles)
    assert not any("broken" in t for t in titles)
    assert axis_choices(ctx, "VAE")[:3] == ["Automatic", "None", "tiny-vae.safetensors"]
    assert "Latent" in axis_choices(ctx, "Hires upscaler")
    assert axis_choices(ctx, "Steps") is None


# -- generating ---------------------------------------------------------------------------
def test_steps_by_cfg_grid(ctx: AtelierContext) -> None:
    control = JobControl()
    seen: list[tuple[int, int]] = []
    control.listeners.append(lambda p: seen.append((p.step, p.total_steps)))
    result = run_xyz_plot(ctx.engine, base(), XyzAxis("Steps", "1, 2"), XyzAxis("CFG Scale", "3, 7.5"),
                          control=control)

    assert len(result.cells) == 4 and result.grid_count == 1 and len(result.images) == 1
    for i, cell in enumerate(result.cells):  # X varies fastest
        steps, cfg = (1, 2)[i % 2], ("3", "7.5")[i // 2]
        assert f"Steps: {steps}," in cell.infotexts[0] and f"CFG scale: {cfg}," in cell.infotexts[0]
        assert cell.seeds == [5]
        assert read_infotext(Image.open(cell.paths[0])) == cell.infotexts[0]

    grid = result.images[0]
    assert grid.width == 2 * CELL + LEGEND_LEFT
    assert 2 * CELL < grid.height < 3 * CELL  # one line of column labels on top
    top_left = pixels(grid)[-2 * CELL:-CELL, LEGEND_LEFT:LEGEND_LEFT + CELL]
    assert np.array_equal(top_left, pixels(result.cells[0].images[0]))

    path = result.grid_paths[0]
    assert path.name == "00000-grid.png" and path.parent.parent.name == "txt2img-grids"
    assert result.paths[0] == path and len(result.paths) == 5
    text = read_infotext(Image.open(path))
    assert text == result.infotexts[0]
    assert 'Script: X/Y/Z plot, X Type: Steps, X Values: "1, 2", Y Type: CFG Scale, Y Values: "3, 7.5"' in text
    assert "Steps: 1," in text  # the first cell's parameters

    assert seen[-1] == (6, 6)  # 1 + 2 + 1 + 2 steps on one bar
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert result.info()["index_of_first_image"] == 1


def test_prompt_sr_changes_the_lora_weight(ctx: AtelierContext) -> None:
    result = run_xyz_plot(ctx.engine, base(prompt="a red fox <lora:tiny-lora:0>"),
                          XyzAxis("Prompt S/R", "<lora:tiny-lora:0>, <lora:tiny-lora:1>"),
                          options=XyzOptions(include_sub_images=True))
    zero, full = result.cells
    assert full.infotexts[0].startswith("a red fox <lora:tiny-lora:1>\n")
    assert 'Lora hashes: "tiny-lora: ' in full.infotexts[0]
    assert not np.array_equal(pixels(zero.images[0]), pixels(full.images[0]))
    plain = ctx.engine.txt2img(base(prompt="a red fox", save_images=False))
    assert np.abs(pixels(zero.images[0]) - pixels(plain.images[0])).max() <= 1  # weight 0 = no LoRA
    assert len(result.images) == 3 and result.prompts[1:] == [zero.request.prompt, full.request.prompt]


def test_checkpoint_axis_loads_each_model_once_and_restores(make_context, tiny_models_dir: Path) -> None:
    fresh = make_context(tiny_models_dir)
    manager = fresh.manager
    manager.checkpoint("tiny-sd1")
    switches: list[str] = []
    manager.on_model_loaded.append(lambda loaded: switches.append(loaded.info.name))
    loads_before = len(manager.loads)

    # Checkpoint on X (innermost by default): cost ordering must make it outermost.
    result = run_xyz_plot(fresh.engine, base(), XyzAxis("Checkpoint name", "tiny-sd1, more/tiny-sd1-b"),
                          XyzAxis("Steps", "1, 2"))

    assert [e.name for e in manager.loads[loads_before:]] == ["more/tiny-sd1-b.safetensors"]
    assert switches == ["more/tiny-sd1-b.safetensors", "tiny-sd1.safetensors"]  # once there, once back
    assert manager.current.info.name == "tiny-sd1.safetensors"
    models = [c.model_name for c in result.cells]
    assert models == ["tiny-sd1", "tiny-sd1-b", "tiny-sd1", "tiny-sd1-b"]
    assert "Model: tiny-sd1-b," in result.cells[1].infotexts[0]


def test_vae_axis_switches_and_restores_the_choice(ctx: AtelierContext) -> None:
    assert ctx.manager.vae_choice == "Automatic"
    result = run_xyz_plot(ctx.engine, base(steps=1), XyzAxis("VAE", "Automatic, tiny-vae"))
    auto, custom = result.cells
    assert "VAE:" not in auto.infotexts[0] and "VAE: tiny-vae.safetensors" in custom.infotexts[0]
    assert not np.array_equal(pixels(auto.images[0]), pixels(custom.images[0]))
    assert ctx.manager.vae_choice == "Automatic"


def test_seed_axes_are_fixed_once_per_value(ctx: AtelierContext) -> None:
    result = run_xyz_plot(ctx.engine, base(steps=1, seed=-1), XyzAxis("Seed", "1-3"))
    assert [c.seeds[0] for c in result.cells] == [1, 2, 3]
    assert 'X Values: 1-3, Fixed X Values: "1, 2, 3"' in result.infotexts[0]

    random = run_xyz_plot(ctx.engine, base(steps=1, seed=-1), XyzAxis("Seed", "-1, -1"), XyzAxis("Steps", "1, 2"))
    seeds = [c.seeds[0] for c in random.cells]
    assert seeds[0] == seeds[2] and seeds[1] == seeds[3]  # a column shares its seed
    assert -1 not in seeds

    kept = run_xyz_plot(ctx.engine, base(steps=1, seed=-1), XyzAxis("Steps", "1, 1"))
    assert kept.cells[0].seeds == kept.cells[1].seeds  # the base seed is fixed once for all cells

    varied = run_xyz_plot(ctx.engine, base(steps=1, seed=10), XyzAxis("Steps", "1, 1"), XyzAxis("CFG Scale", "5, 6"),
                          options=XyzOptions(vary_seeds_x=True, vary_seeds_y=True))
    assert [c.seeds[0] for c in varied.cells] == [10, 11, 12, 13]


def test_z_axis_super_grid_sub_grids_and_size_axis(ctx: AtelierContext) -> None:
    result = run_xyz_plot(ctx.engine, base(steps=1), XyzAxis("Size", "64x64, 96x64"), XyzAxis(),
                          XyzAxis("CFG Scale", "4, 8"),
                          XyzOptions(include_sub_grids=True, include_sub_images=True, margin_size=4))
    assert result.grid_count == 3 and len(result.images) == 3 + 4
    main, first, second = result.images[:3]
    assert first.size == second.size and main.width == 2 * first.width and main.height > first.height
    assert first.width == 2 * 96 + 4  # tiles as large as the largest image, margin between them
    assert [c.images[0].size for c in result.cells] == [(64, 64), (96, 64)] * 2
    assert len(result.grid_paths) == 3 and all(p.exists() for p in result.grid_paths)
    assert "Z Type: CFG Scale" in result.infotexts[0] and "Z Type" not in result.infotexts[1]
    assert "CFG scale: 8," in result.infotexts[2]


def test_no_legend_and_no_saving(ctx: AtelierContext) -> None:
    result = run_xyz_plot(ctx.engine, base(steps=1, save_images=False), XyzAxis("Steps", "1, 2"),
                          options=XyzOptions(draw_legend=False))
    assert result.images[0].size == (2 * CELL, CELL) and result.paths == [] and result.grid_paths == []


def test_interrupt_stops_after_the_current_cell(ctx: AtelierContext) -> None:
    control = JobControl()
    control.listeners.append(lambda p: control.interrupted.set() if p.step >= 1 else None)
    result = run_xyz_plot(ctx.engine, base(steps=1), XyzAxis("Seed", "1-4"), control=control)
    assert result.interrupted and len(result.cells) == 1
    grid = result.images[0]
    assert grid.width == 4 * CELL  # still the full grid; missing cells are black
    assert pixels(grid)[-CELL:, -CELL:].max() == 0


def test_api_script_args(ctx: AtelierContext) -> None:
    # A1111 1.10 txt2img indices: 4 = Steps, 9 = Sampler (values from its dropdown), 24 = Eta
    args = [4, "1,2", [], 9, "", ["Euler", "Euler a"], 0, "", [], True, False, False, False, False, False, False, 0,
            False]
    result = run_script(ctx.engine, base(steps=1), "X/Y/Z plot", args)
    assert len(result.cells) == 4
    assert "Sampler: Euler a," in result.cells[3].infotexts[0] and "Steps: 2," in result.cells[3].infotexts[0]
    with pytest.raises(ValueError, match="unknown script"):
        run_script(ctx.engine, base(), "Loopback wave", [])
    with pytest.raises(ValueError, match="unsupported X/Y/Z plot axis type 'Eta'"):
        run_script(ctx.engine, base(), "x/y/z plot", [24, "0, 1"])


def test_img2img_denoising_axis_saves_under_img2img_grids(ctx: AtelierContext) -> None:
    source = Image.new("RGB", (CELL, CELL), (120, 80, 40))
    request = Img2ImgRequest(prompt="a red fox", checkpoint="tiny-sd1", width=CELL, height=CELL, steps=4, seed=3,
                             init_images=[source])
    result = run_xyz_plot(ctx.engine, request, XyzAxis("Denoising", "0.25, 0.5"))
    assert ["Denoising strength: 0.25" in c.infotexts[0] for c in result.cells] == [True, False]
    assert result.grid_paths[0].parent.parent.name == "img2img-grids"


def test_hires_axes(ctx: AtelierContext) -> None:
    control = JobControl()
    seen: list[int] = []
    control.listeners.append(lambda p: seen.append(p.total_steps))
    result = run_xyz_plot(ctx.engine, base(steps=1, enable_hr=True, hr_scale=1.5, denoising_strength=0.5),
                          XyzAxis("Hires upscaler", "latent, Lanczos"), XyzAxis("Hires steps", "1, 2"),
                          options=XyzOptions(include_sub_images=True), control=control)
    assert [c.request.hr_upscaler for c in result.cells] == ["Latent", "Lanczos"] * 2
    assert "Hires steps: 2, Hires upscaler: Lanczos" in result.cells[3].infotexts[0]
    assert result.images[1].size == (96, 96)
    assert seen[-1] == (1 + 1) * 2 + (1 + 2) * 2  # first pass + hires steps of every cell


def test_prompt_order_axis() -> None:
    from pipelines.scripts.xyz_plot import _Draft, find_axis_type

    order = find_axis_type("Prompt order")
    values = order.parse("fox, snow")
    assert values == [("fox", "snow"), ("snow", "fox")]
    draft = _Draft(base(prompt="a fox in the snow"))
    order.apply(draft, values[1], values)
    assert draft.request.prompt == "a snow in the fox"
    assert order.label_for(values[1]) == "snow, fox"
    with pytest.raises(ValueError, match="did not find 'owl'"):
        order.apply(_Draft(base(prompt="a fox")), ("fox", "owl"), values)
