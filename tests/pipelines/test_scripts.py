"""Grid drawing, prompt matrix and prompts from file or textbox (tiny models for the runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.context import AtelierContext
from pipelines.diffusion.request import Txt2ImgRequest
from pipelines.outputs import OutputWriter, read_infotext
from pipelines.scripts import PromptMatrixOptions, PromptsFromFileOptions, run_prompt_matrix, run_script
from pipelines.scripts.grid import GridLabel, annotate_grid, image_grid, labelled_grid, plain_labels
from pipelines.scripts.prompt_matrix import matrix_prompts
from pipelines.scripts.prompts_from_file import parse_line, parse_lines, run_prompts_from_file

CELL = 64


def base(**fields) -> Txt2ImgRequest:
    return Txt2ImgRequest(**{"prompt": "a red fox", "checkpoint": "tiny-sd1", "width": CELL, "height": CELL,
                             "steps": 1, "seed": 5, **fields})


def solid(color: tuple[int, int, int], size: tuple[int, int] = (CELL, CELL)) -> Image.Image:
    return Image.new("RGB", size, color)


# -- grid drawing -------------------------------------------------------------------------
def test_image_grid_layout_and_mixed_sizes() -> None:
    grid = image_grid([solid((255, 0, 0)), solid((0, 255, 0)), solid((0, 0, 255), (32, 32))], rows=1)
    assert grid.size == (3 * CELL, CELL)
    assert grid.getpixel((CELL * 2 + 32, 32)) == (0, 0, 255)  # the small one is centred
    assert grid.getpixel((CELL * 2 + 2, 2)) == (0, 0, 0)
    assert image_grid([solid((1, 1, 1))] * 4).size == (2 * CELL, 2 * CELL)  # default rows: round(sqrt(n))
    with pytest.raises(ValueError):
        image_grid([])


def test_annotations_add_legend_space_and_draw_text() -> None:
    tiles = [solid((200, 0, 0))] * 4
    grid = labelled_grid(tiles, plain_labels(["Steps: 10", "Steps: 20"]), plain_labels(["CFG: 5", "CFG: 7"]), margin=6)
    left = CELL * 3 // 4
    assert grid.width == left + 2 * CELL + 6
    top = grid.height - (2 * CELL + 6)
    assert top > 0
    legend = np.asarray(grid)[:top, left:]
    assert (legend < 100).any()  # dark text on white
    assert grid.getpixel((left + CELL + 3, top + 5)) == (255, 255, 255)  # the margin is white
    plain = labelled_grid(tiles, plain_labels(["a", "b"]), plain_labels(["", ""]))
    assert plain.width == 2 * CELL  # no row labels: no left column
    with pytest.raises(ValueError, match="do not fit"):
        annotate_grid(image_grid(tiles, rows=2), (CELL, CELL), plain_labels(["a", "b", "c"]), plain_labels(["x", "y"]))


def test_long_labels_wrap_and_inactive_labels_are_grey() -> None:
    words = " ".join(["word"] * 30)
    grid = labelled_grid([solid((0, 0, 0))], [[GridLabel(words)]], [[GridLabel()]])
    assert grid.height > CELL + 20  # wrapped onto several lines
    struck = labelled_grid([solid((0, 0, 0))], [[GridLabel("gone", active=False)]], [[GridLabel()]])
    legend = np.asarray(struck)[: struck.height - CELL]
    assert (legend == 153).all(axis=-1).any() and not (legend < 100).all(axis=-1).any()


def test_save_grid_numbers_files_and_keeps_infotext(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path)
    first = writer.save_grid(solid((1, 2, 3)), "img2img", "a prompt\nSteps: 1, Seed: 2, Size: 64x64")
    second = writer.save_grid(solid((1, 2, 3)), "img2img", None, "prompt_matrix")
    assert first.name == "00000-grid.png" and second.name == "00001-prompt_matrix.png"
    assert first.parent.parent == tmp_path / "img2img-grids"
    assert read_infotext(Image.open(first)).startswith("a prompt")
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temp files left


# -- prompt matrix ------------------------------------------------------------------------
def test_matrix_prompts_follow_a1111() -> None:
    assert matrix_prompts("a cat|hat|night") == ["a cat", "a cat, hat", "a cat, night", "a cat, hat, night"]
    assert matrix_prompts("a cat| hat, |night", put_at_start=True, delimiter="space") == [
        "a cat", "hat a cat", "night a cat", "hat night a cat"]
    assert matrix_prompts("alone") == ["alone"]
    with pytest.raises(ValueError, match="delimiter"):
        matrix_prompts("a|b", delimiter="tab")
    with pytest.raises(ValueError, match="limit"):
        matrix_prompts("|".join("abcdefghijklmnop"))


def test_prompt_matrix_run(ctx: AtelierContext) -> None:
    result = run_prompt_matrix(ctx.engine, base(prompt="a red fox|in snow|at night"))
    assert result.grid_count == 1 and len(result.images) == 5 and len(result.cells) == 4
    assert [c.request.prompt for c in result.cells] == [
        "a red fox", "a red fox, in snow", "a red fox, at night", "a red fox, in snow, at night"]
    assert {c.seeds[0] for c in result.cells} == {5}
    grid = result.images[0]
    assert grid.width == 2 * CELL + CELL * 3 // 4 and grid.height > 2 * CELL
    assert result.grid_paths[0].name.endswith("-prompt_matrix.png")
    assert read_infotext(Image.open(result.grid_paths[0])) == result.cells[0].infotexts[0]
    assert result.prompts[0] == "a red fox|in snow|at night"

    varied = run_prompt_matrix(ctx.engine, base(negative_prompt="blurry|dark", save_images=False),
                               PromptMatrixOptions(prompt_type="negative", different_seeds=True))
    assert [c.request.negative_prompt for c in varied.cells] == ["blurry", "blurry, dark"]
    assert [c.seeds[0] for c in varied.cells] == [5, 6] and varied.paths == []
    with pytest.raises(ValueError, match="prompt type"):
        run_prompt_matrix(ctx.engine, base(), PromptMatrixOptions(prompt_type="neutral"))


# -- prompts from file --------------------------------------------------------------------
def test_parse_line_like_a1111() -> None:
    line = '--prompt "a red fox" in snow --negative_prompt blurry --steps 3 --seed 5 --cfg_scale 6.5 --tiling false'
    assert parse_line(line) == {"prompt": "a red fox in snow", "negative_prompt": "blurry", "steps": 3, "seed": 5,
                                "cfg_scale": 6.5, "tiling": False}
    assert parse_line("  just a prompt -- with dashes ") == {"prompt": "just a prompt -- with dashes"}
    assert [line.number for line in parse_lines("a\n\n  \nb\n")] == [1, 4]


@pytest.mark.parametrize("text, message", [
    ("ok\n--steps ten", r"line 2 \('--steps ten'\): --steps: 'ten' is not a whole number"),
    ("--prompt a --bogus 1", r"line 1 .*unknown option --bogus"),
    ("--steps", r"line 1 .*missing value for --steps"),
    ('--prompt "unclosed', r"line 1 .*cannot split"),
    ("--prompt a stray --steps 2 3", r"expected an option starting with \"--\", got '3'"),
    ("--restore_faces maybe", r"'maybe' is not true or false"),
])
def test_bad_lines_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_lines(text)


def test_prompts_from_file_run(ctx: AtelierContext) -> None:
    text = ('--prompt "a cat" --steps 2 --seed 9 --sampler_name "Euler a" --width 64 --height 64 --cfg_scale 5\n'
            "\n"
            "a dog\n"
            '--prompt "an owl" --sampler_name "DPM++ 2M Karras" --sd_model more/tiny-sd1-b --styles "" --n_iter 2\n')
    result = run_prompts_from_file(ctx.engine, base(prompt=""), text, PromptsFromFileOptions(iterate_seed=True))
    assert result.grid_count == 0 and len(result.images) == 4
    cat, dog, owl = result.cells
    assert cat.infotexts[0].startswith("a cat\nSteps: 2, Sampler: Euler a, Schedule type: Automatic, CFG scale: 5,")
    assert "Seed: 9," in cat.infotexts[0]
    assert dog.request.prompt == "a dog" and dog.seeds == [6]  # 5, then +1 per line (base batch × count)
    assert owl.seeds == [7, 8] and "Sampler: DPM++ 2M, Schedule type: Karras" in owl.infotexts[0]
    assert owl.model_name == "tiny-sd1-b" and ctx.manager.current.info.name == "tiny-sd1.safetensors"
    assert result.seeds == [9, 6, 7, 8]


def test_prompts_from_file_seed_options_and_position(ctx: AtelierContext) -> None:
    same = run_prompts_from_file(ctx.engine, base(seed=-1, prompt="photo"), "a cat\na dog",
                                 PromptsFromFileOptions(same_seed=True, prompt_position="end"))
    assert same.cells[0].seeds == same.cells[1].seeds
    assert [c.request.prompt for c in same.cells] == ["photo a cat", "photo a dog"]
    with pytest.raises(ValueError, match=r"line 2 .*Unknown sampler 'Nope'"):
        run_prompts_from_file(ctx.engine, base(), 'a cat\n--sampler_name Nope')
    with pytest.raises(ValueError, match=r"line 1 .*unknown checkpoint 'ghost'"):
        run_prompts_from_file(ctx.engine, base(), '--sd_model ghost')
    with pytest.raises(ValueError, match=r"line 1 .*steps"):
        run_prompts_from_file(ctx.engine, base(), '--steps 0')
    with pytest.raises(ValueError, match="empty"):
        run_prompts_from_file(ctx.engine, base(), '\n  \n')


def test_api_names_for_matrix_and_file(ctx: AtelierContext) -> None:
    from webui.server import builtin_extensions

    builtin_extensions(ctx)
    assert ctx.scripts.titles("txt2img") == ["Prompt matrix", "Prompts from file or textbox", "X/Y/Z plot"]
    matrix = run_script(ctx.engine, base(prompt="a|b", save_images=False), "Prompt matrix",
                        [True, False, "positive", "space", 0])
    assert [c.request.prompt for c in matrix.cells] == ["a", "b a"]
    lines = run_script(ctx.engine, base(prompt="", save_images=False), "prompts from file or textbox",
                       [False, False, "start", "one\ntwo"])
    assert [c.request.prompt for c in lines.cells] == ["one", "two"]
    legacy = run_script(ctx.engine, base(prompt="", save_images=False), "Prompts from file or textbox",
                        [False, False, "three"])
    assert [c.request.prompt for c in legacy.cells] == ["three"]
