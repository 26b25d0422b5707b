"""Issue #12 item 1: no UI input may name a server file or folder outside what Atelier serves.

The attack: post a ``gradio.FileData`` whose ``path`` is any server file to a UI event handler;
Gradio copied it into its cache (the error message even named the copy) and
``GET /gradio_api/file=<copy>`` served it. Every handler that takes a file is tried (found in
the Blocks config, so a new one cannot be missed), with a system file, the data dir's
``config.json`` and a private PNG whose infotext ``png_info`` would have read out.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from gradio import processing_utils, utils as gradio_utils
from PIL import Image, PngImagePlugin

from tests.security.gradio_calls import (call, default_inputs, file_handlers, find_copies, fn_index, gradio_blocks,
                                         payload_naming)
from webui.server import create_app

SECRET_INFOTEXT = "the private prompt\nSteps: 3, Seed: 424242"


def private_png(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", SECRET_INFOTEXT)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(path, pnginfo=info)
    return path


@pytest.fixture(scope="module")
def ui(ctx) -> Iterator[tuple[TestClient, Any]]:
    app = create_app(ctx, api=True, webui=True)
    with TestClient(app) as client:
        yield client, gradio_blocks(app)


@pytest.fixture(scope="module")
def secrets(ctx) -> list[Path]:
    """Server files outside the served folders: a system file, settings, a private picture."""
    config = ctx.config.data_dir / "config.json"
    if not config.exists():
        config.write_text('{"secret_setting": "s3cr3t"}', encoding="utf-8")
    return [Path("/etc/passwd"), config, private_png(ctx.config.data_dir / "private.png")]


def cache_dir() -> Path:
    return Path(gradio_utils.get_upload_folder())


def copy_url(secret: Path) -> str:
    """Where Gradio's cache would hold a copy of ``secret`` (what the old error message named)."""
    return f"/gradio_api/file={cache_dir() / processing_utils.hash_file(secret) / secret.name}"


def test_the_blocks_config_lists_the_file_handlers_this_test_covers(ui) -> None:
    names = {name for _, name, _ in file_handlers(ui[1])}
    assert {"txt2img", "img2img", "png_info", "inspect_fn", "scan_fn", "scan_video_fn", "save_model"} <= names


@pytest.mark.parametrize("secret_index", [0, 1, 2], ids=["etc-passwd", "config-json", "private-png"])
def test_no_file_handler_copies_or_reads_a_server_file(ui, secrets: list[Path], secret_index: int) -> None:
    client, blocks = ui
    secret = secrets[secret_index]
    content = secret.read_bytes()
    leaks = []
    for fn, name, inputs in file_handlers(blocks):
        answer = call(client, fn, payload_naming(blocks, inputs, str(secret)))
        output = answer.get("output", {})
        if answer.get("success", False) or "data" in output and not output.get("error"):
            leaks.append(f"{name}: ran with the server file ({str(answer)[:200]})")
        if SECRET_INFOTEXT.split("\n")[0] in str(answer):
            leaks.append(f"{name}: answered the file's contents")
        if str(cache_dir()) in str(answer):
            leaks.append(f"{name}: named a cache path")
    copies = find_copies(cache_dir(), content)
    assert not leaks and not copies, (leaks, copies)
    served = client.get(copy_url(secret))
    assert served.status_code in (403, 404) and content[:16] not in served.content


def test_the_refusal_says_the_file_was_not_uploaded(ui, secrets: list[Path]) -> None:
    client, blocks = ui
    fn = fn_index(blocks, "png_info")
    answer = call(client, fn, payload_naming(blocks, list(blocks.fns[fn].inputs), str(secrets[2])))
    assert answer["success"] is False and "it was not uploaded by a user" in answer["output"]["error"]


def test_an_uploaded_file_still_works(ui, secrets: list[Path]) -> None:
    """The browser's own way: upload first, then name the uploaded copy."""
    client, blocks = ui
    uploaded = client.post("/gradio_api/upload", files={"files": ("mine.png", secrets[2].read_bytes(), "image/png")})
    assert uploaded.status_code == 200
    fn = fn_index(blocks, "png_info")
    answer = call(client, fn, payload_naming(blocks, list(blocks.fns[fn].inputs), uploaded.json()[0]))
    assert answer["success"] is True and answer["output"]["data"][0] == SECRET_INFOTEXT


def test_the_file_route_serves_outputs_but_nothing_else(ui, ctx, secrets: list[Path]) -> None:
    client, _ = ui
    for secret in secrets:
        assert client.get(f"/gradio_api/file={secret}").status_code == 403
    for private in (ctx.config.models_dir / "Stable-diffusion" / "tiny-sd1.safetensors",):
        assert client.get(f"/gradio_api/file={private}").status_code == 403
    output = ctx.outputs_dir / "txt2img-images" / "served.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(output)
    answer = client.get(f"/gradio_api/file={output}")
    assert answer.status_code == 200 and Image.open(io.BytesIO(answer.content)).size == (8, 8)


def test_an_output_folder_moved_in_settings_is_served_at_once(ui, ctx, tmp_path: Path) -> None:
    client, _ = ui
    moved = tmp_path / "elsewhere"
    picture = moved / "x.png"
    moved.mkdir()
    Image.new("RGB", (8, 8)).save(picture)
    assert client.get(f"/gradio_api/file={picture}").status_code == 403
    before = ctx.settings.outdir_save
    ctx.settings_store.update({"outdir_save": str(moved)})
    try:
        assert client.get(f"/gradio_api/file={picture}").status_code == 200
    finally:
        ctx.settings_store.update({"outdir_save": before})
    assert client.get(f"/gradio_api/file={picture}").status_code == 403


def _batch_error(ui, **folders: str) -> str:
    """Run the img2img tab's Batch sub-tab through the UI's endpoints in one browser session."""
    client, blocks = ui
    session = "batch-session"
    assert call(client, fn_index(blocks, "img2img_mode_batch"), [], session=session)["success"]
    fn = fn_index(blocks, "img2img")
    data = default_inputs(blocks, fn)
    for position, block in enumerate(blocks.fns[fn].inputs):
        field = (block.elem_id or "").removeprefix("img2img_")
        if field in folders:
            data[position] = folders[field]
    answer = call(client, fn, data, session=session)
    assert answer["success"] is False, answer
    return answer["output"]["error"]


def test_img2img_batch_refuses_folders_outside_the_served_ones(ui, ctx, tmp_path: Path) -> None:
    outside = tmp_path / "pictures"
    outside.mkdir()
    private_png(outside / "a.png")
    inside = ctx.outputs_dir / "batch-in"
    inside.mkdir(parents=True, exist_ok=True)
    private_png(inside / "a.png")
    for folders in ({"batch_input_dir": str(outside)}, {"batch_input_dir": "/etc"},
                    {"batch_input_dir": str(inside), "batch_output_dir": str(tmp_path / "written")},
                    {"batch_input_dir": str(inside), "batch_mask_dir": str(outside)}):
        error = _batch_error(ui, **folders)
        assert "is outside the folders this server may use" in error and "--gradio-allowed-path" in error, error
    assert not (tmp_path / "written").exists()
    link = ctx.outputs_dir / "link-out"
    link.symlink_to(outside, target_is_directory=True)
    assert "is outside the folders" in _batch_error(ui, batch_input_dir=str(link))


def _shown_by_the_ui(blocks: Any, path: Path) -> bool:
    """Whether Gradio lets a handler's *output* name ``path`` (its postprocess check, run the way
    a request runs it)."""
    from gradio.context import LocalContext
    from gradio.exceptions import InvalidPathError

    token = LocalContext.blocks.set(blocks)
    try:
        processing_utils.move_files_to_cache({"path": str(path), "meta": {"_type": "gradio.FileData"}},
                                             blocks.blocks[next(iter(blocks.blocks))], postprocess=True)
        return True
    except InvalidPathError:
        return False
    finally:
        LocalContext.blocks.reset(token)


def test_outputs_may_name_figures_beside_models_but_never_the_settings(ui, ctx) -> None:
    """The Evaluate tab shows its ROC figure from beside the detector (models/detectors/*.eval)."""
    detectors = ctx.config.models_dir / "detectors"
    existed = detectors.exists()
    figure = detectors / "some.eval" / "roc.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(figure)
    try:
        assert _shown_by_the_ui(ui[1], figure)
    finally:
        shutil.rmtree(figure.parent if existed else detectors)
    assert not _shown_by_the_ui(ui[1], ctx.config.data_dir / "config.json")


# Every text field of the UI that names a place on the server, and what keeps it inside the
# served folders (with the test that shows it). A new field fails the test below until listed.
FOLDER_FIELDS = {
    "Input directory": "server_folder; test_img2img_batch_refuses_folders_outside_the_served_ones",
    "Output directory (empty: the img2img outputs folder)": "server_folder; the same test",
    "Inpaint batch mask directory (optional)": "server_folder; the same test",
    "Real faces folder (on this machine)": "server_folder; test_detect_ui_actions train test",
    "Fake faces folder (optional)": "server_folder; test_detect_ui_actions train test",
    "Real folder (on this machine)": "server_folder; test_detect_ui_actions evaluate test",
    "Fake folder (its sub-folders are the domains)": "server_folder; test_detect_ui_actions evaluate test",
    "or a server path (inside the data or outputs folder)": "ui_faces_train_actions.server_input; test_ui_faces_train",
    "Folder name (optional)": "an extension folder name, one path component (gitops.folder_name)",
}


def test_every_folder_field_of_the_ui_is_confined(ui) -> None:
    import re

    fields = {c["props"].get("label") for c in ui[1].config["components"]
              if c.get("type") == "textbox" and not str(c["props"].get("elem_id") or "").startswith("setting_")
              and re.search(r"folder|director|server path", str(c["props"].get("label") or ""), re.I)}
    assert fields == set(FOLDER_FIELDS), fields ^ set(FOLDER_FIELDS)
