"""Files Atelier writes (issue #12 item 11): the hidden temp files of writes a kill -9 cut short
are removed at the next start, and outputs and config.json get the user's umask (not 0600)."""

from __future__ import annotations

import base64
import io
import os
import stat
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from pipelines.context import AppConfig, AtelierContext
from pipelines.fileio import atomic_write_text
from tests.security.hostile_models import copy_good_models
from webui.server import create_app

FAST = {"prompt": "a fox", "seed": 1, "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}


def umask_mode() -> int:
    """What ``open()`` gives a new file here, measured the ordinary way."""
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"umask-probe-{os.getpid()}"
    probe.write_bytes(b"")
    try:
        return stat.S_IMODE(probe.stat().st_mode)
    finally:
        probe.unlink()


def test_stale_temp_files_of_interrupted_writes_are_removed_at_start(tmp_path: Path) -> None:
    outputs = tmp_path / "data" / "outputs"
    day = outputs / "txt2img-images" / date.today().isoformat()
    custom = tmp_path / "my-saved"
    day.mkdir(parents=True)
    custom.mkdir()
    stale = [day / ".00003-5-a fox.png.k2j4h1x0.tmp", outputs / "faces" / ".00001-clip.mp4.abcd_123.tmp",
             custom / ".00000-x.webp.q9w8e7r6.tmp"]
    # what is not Atelier's: another program's temp files in a folder the user chose
    kept = [day / "00002-4-a fox.png", day / ".hidden-note", day / "notes.tmp", custom / "00000-x.png",
            custom / ".lock.tmp", custom / ".document.odt.k2j4h1x0.tmp"]
    (outputs / "faces").mkdir()
    for path in stale + kept:
        path.write_bytes(b"partial")
    atomic_write_text(tmp_path / "data" / "config.json", '{"outdir_save": "%s"}' % custom)
    ctx = AtelierContext(AppConfig(data_dir=tmp_path / "data", models_dir=tmp_path / "models", hash_in_background=False))
    try:
        assert [p for p in stale if p.exists()] == []
        assert all(p.exists() for p in kept)
    finally:
        ctx.close()


def test_outputs_and_config_get_the_users_umask(tiny_models_dir: Path, tmp_path: Path) -> None:
    expected = umask_mode()
    models = tmp_path / "models"
    copy_good_models(tiny_models_dir, models)
    ctx = AtelierContext(AppConfig(data_dir=tmp_path / "data", models_dir=models, hash_in_background=False))
    try:
        client = TestClient(create_app(ctx, api=True, webui=False))
        assert client.post("/sdapi/v1/options", json={"send_seed": False}).status_code == 200
        assert client.post("/sdapi/v1/txt2img", json={**FAST, "save_images": True}).status_code == 200
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (10, 20, 30)).save(buffer, format="PNG")
        response = client.post("/sdapi/v1/extra-single-image", json={
            "image": base64.b64encode(buffer.getvalue()).decode(), "upscaler_1": "Lanczos", "upscaling_resize": 2,
            "save_images": True})
        assert response.status_code == 200, response.text
        written = [ctx.settings_store.path, *sorted((tmp_path / "data" / "outputs").rglob("*.png"))]
        assert len(written) == 3, written
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == expected, f"{path}: {oct(path.stat().st_mode)}"
    finally:
        ctx.close()
