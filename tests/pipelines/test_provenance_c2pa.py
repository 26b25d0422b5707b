"""C2PA signing of saved outputs: sign with a local (or the user's) certificate, read back in Detect."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from pipelines.outputs import OutputWriter
from pipelines.provenance.inspect import inspect

pytest.importorskip("c2pa")

from pipelines.provenance.c2pa_signer import local_credentials, make_signer  # noqa: E402


def photo(name: str = "astronaut") -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def manifest_store(data: bytes, mime: str) -> dict:
    import c2pa

    with c2pa.Reader(mime, io.BytesIO(data)) as reader:
        return json.loads(reader.json())


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_saved_swap_is_signed_with_its_sources_as_ingredients(tmp_path: Path, fmt: str) -> None:
    writer = OutputWriter(tmp_path / "out", fmt, c2pa=make_signer(tmp_path / "data", None, None))
    target, source = photo(), photo("coffee")
    path = writer.save(target, "faces", seed=0, prompt="swap", infotext=None, sources=[target, source])
    raw = path.read_bytes()
    report = inspect(raw)
    c2pa_signal = report.signal("C2PA")
    assert c2pa_signal.found and c2pa_signal.details["generator"].startswith("Atelier ")
    assert c2pa_signal.details["digital_source_types"] == ["compositeWithTrainedAlgorithmicMedia"]
    assert "signingCredential.untrusted" in c2pa_signal.details["validation"]  # local CA: valid, not trusted
    assert c2pa_signal.details["signer"] and "Atelier" in c2pa_signal.details["signer"]
    assert report.verdict.startswith("Made by Atelier (faces)")
    store = manifest_store(raw, "image/png" if fmt == "png" else "image/jpeg")
    active = store["manifests"][store["active_manifest"]]
    assert [i["relationship"] for i in active["ingredients"]] == ["parentOf", "componentOf"]
    labels = [a["label"] for a in active["assertions"]]
    assert "atelier.provenance" in labels
    assert not [s for s in store.get("validation_status", []) if "mismatch" in s.get("code", "")]
    # the pixels still carry the invisible mark, the file the record
    assert report.signal("Atelier watermark").found and report.signal("Provenance record").found


def test_local_credentials_are_made_once_and_kept_private(tmp_path: Path) -> None:
    first = local_credentials(tmp_path / "c2pa")
    assert (tmp_path / "c2pa" / "signer.key").stat().st_mode & 0o077 == 0
    assert local_credentials(tmp_path / "c2pa") == first
    with pytest.raises(ValueError, match="not found"):
        make_signer(tmp_path, str(tmp_path / "missing.pem"), str(tmp_path / "missing.key"))


def test_setting_turns_signing_on_for_the_writer(tmp_path: Path) -> None:
    from pipelines.context import AppConfig, AtelierContext

    ctx = AtelierContext(AppConfig(data_dir=tmp_path / "data", models_dir=tmp_path / "models", hash_in_background=False))
    try:
        assert ctx.writer.c2pa is None
        ctx.settings_store.update({"c2pa_sign": True})
        ctx.apply_settings()
        assert ctx.writer.c2pa is not None
        path = ctx.writer.save(photo(), "extras", seed=0, prompt="", infotext=None)
        assert inspect(path.read_bytes()).signal("C2PA").found
        assert (tmp_path / "data" / "c2pa" / "chain.pem").is_file()
    finally:
        ctx.close()
