"""Provenance: every output is stamped (record + invisible marks), and everything reads back.

Marks need images of at least 256×256, which the tiny test models make slowly, so the marks
are checked on real photos (shipped in scikit-image) written through the OutputWriter, and
once through the engine at 256×256.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from skimage import data

from pipelines.context import AtelierContext
from pipelines.diffusion.request import Img2ImgRequest, Txt2ImgRequest
from pipelines.outputs import OutputWriter, read_infotext
from pipelines.provenance import watermarks
from pipelines.provenance.inspect import NOTHING_FOUND, inspect
from pipelines.provenance.metadata import read_record
from pipelines.provenance.record import ProvenanceRecord, source_digest
from pipelines.provenance.stamp import MARKS_OFF_NOTE, mark_image
from webui.ui.detect.provenance_actions import detect_response, inspect_upload
from webui.imagecodec import ImageDecodeError
from webui.server import create_app

INFOTEXT = "a lighthouse\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Version: atelier-0.1.0"


def photo(name: str = "astronaut") -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def marked_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = OutputWriter(tmp_path_factory.mktemp("out"))
    return writer.save(photo(), "txt2img", seed=5, prompt="a lighthouse", infotext=INFOTEXT)


# -- writing ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_every_format_carries_infotext_record_and_atelier_mark(tmp_path: Path, fmt: str) -> None:
    source = photo("coffee")
    path = OutputWriter(tmp_path, fmt).save(photo(), "img2img", seed=1, prompt="x", infotext=INFOTEXT,
                                           sources=[source])
    image = Image.open(path)
    assert read_infotext(image) == INFOTEXT
    record = read_record(image)
    assert record is not None and record.tool == "Atelier" and record.operation == "img2img"
    assert record.marks == ("sdxl", "atelier-2") and record.sources == (source_digest(source),)
    assert record.created.endswith("Z")
    reading = watermarks.read_atelier(image)
    assert reading.found and reading.version == 2
    if fmt == "png":  # lossless: SDXL's mark reads as diffusers' own does (~39/48 on a photo)
        assert watermarks.read_sdxl(image).found


def test_marked_output_stays_close_to_the_original(marked_png: Path) -> None:
    original = np.asarray(photo(), dtype=np.float64)
    marked = np.asarray(Image.open(marked_png).convert("RGB"), dtype=np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((original - marked) ** 2))
    assert psnr > 35.0


def test_marks_off_keeps_the_record_and_says_so_in_the_infotext(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path, provenance_marks=False)
    path = writer.save(photo(), "txt2img", seed=1, prompt="x", infotext=INFOTEXT)
    image = Image.open(path)
    assert read_infotext(image) == INFOTEXT + ", " + MARKS_OFF_NOTE
    record = read_record(image)
    assert record is not None and record.marks == () and record.marks_enabled is False
    assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(photo()))
    assert not watermarks.read_atelier(image).found


def test_grids_are_stamped_too(tmp_path: Path) -> None:
    path = OutputWriter(tmp_path).save_grid(photo(), "txt2img", INFOTEXT)
    record = read_record(Image.open(path))
    assert record is not None and record.operation == "txt2img-grid" and "atelier-2" in record.marks


def test_small_images_get_the_record_but_no_marks(tmp_path: Path) -> None:
    path = OutputWriter(tmp_path).save(photo().resize((96, 96)), "extras", seed=0, prompt="", infotext=None)
    record = read_record(Image.open(path))
    assert record is not None and record.marks == () and record.marks_enabled
    tile = OutputWriter(tmp_path).save(photo().resize((128, 128)), "extras", seed=0, prompt="", infotext=None)
    assert read_record(Image.open(tile)).marks == ("atelier-2",)  # one tile is enough; SDXL's needs 256


def test_mark_image_for_video_frames() -> None:
    record = ProvenanceRecord.new("faces-video")
    frame = mark_image(photo(), record)
    assert watermarks.read_atelier(frame).found
    attached = read_record(frame)
    assert attached is not None and attached.marks == ("atelier-2",)  # no SDXL mark in frames by default
    assert mark_image(photo(), record, sdxl=True).info  # opt-in
    assert read_record(mark_image(photo(), record, sdxl=True)).marks == ("sdxl", "atelier-2")
    off = mark_image(photo(), ProvenanceRecord.new("faces-video", marks_enabled=False))
    assert np.array_equal(np.asarray(off), np.asarray(photo()))


def test_engine_outputs_are_stamped_before_they_are_shown(ctx: AtelierContext) -> None:
    result = ctx.engine.txt2img(Txt2ImgRequest(prompt="a lighthouse", checkpoint="tiny-sd1", width=256, height=256,
                                               steps=2, seed=3))
    shown = result.images[0]
    assert watermarks.read_atelier(shown).found  # what the gallery / API returns is marked
    saved = Image.open(result.paths[0])
    assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(shown.convert("RGB")))
    record = read_record(saved)
    assert record is not None and record.operation == "txt2img" and record.marks == ("sdxl", "atelier-2")

    init = photo().resize((64, 64))
    again = ctx.engine.img2img(Img2ImgRequest(prompt="x", checkpoint="tiny-sd1", width=64, height=64, steps=2,
                                              init_images=[init], denoising_strength=0.5))
    record = read_record(Image.open(again.paths[0]))
    assert record is not None and record.sources == (source_digest(init),)


def test_marks_setting_turns_marks_off_for_generation(ctx: AtelierContext) -> None:
    ctx.settings_store.update({"provenance_marks": False})
    ctx.apply_settings()
    try:
        result = ctx.engine.txt2img(Txt2ImgRequest(prompt="x", checkpoint="tiny-sd1", width=64, height=64, steps=2))
    finally:
        ctx.settings_store.update({"provenance_marks": True})
        ctx.apply_settings()
    assert result.infotexts[0].endswith(MARKS_OFF_NOTE)
    saved = Image.open(result.paths[0])
    assert read_infotext(saved).endswith(MARKS_OFF_NOTE)
    assert read_record(saved).marks_enabled is False


# -- the marks themselves -----------------------------------------------------------------
def test_atelier_mark_survives_jpeg_q75_and_a_half_size_round_trip(marked_png: Path) -> None:
    image = Image.open(marked_png)
    assert watermarks.read_atelier(jpeg(image, 75)).found
    w, h = image.size
    assert watermarks.read_atelier(image.resize((w // 2, h // 2)).resize((w, h))).found


def test_sdxl_mark_reads_with_the_reference_decoder(marked_png: Path) -> None:
    """Stability's tools must find it: invisible-watermark's own decoder on the BGR array."""
    from imwatermark import WatermarkDecoder

    bgr = np.ascontiguousarray(np.asarray(Image.open(marked_png).convert("RGB"))[:, :, ::-1])
    sdxl = WatermarkDecoder("bits", 48).decode(bgr, "dwtDct")
    assert (np.asarray(sdxl, dtype=np.uint8) == watermarks.message_bits(watermarks.SDXL_MESSAGE)).sum() >= 36


def test_files_with_the_version_1_mark_are_still_recognised() -> None:
    """Outputs written before the tiled mark carry the 48-bit DWT-SVD one: still read."""
    from imwatermark import WatermarkDecoder

    rgb = watermarks.embed_atelier_v1(np.asarray(photo(), dtype=np.float32))
    old = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    bgr = np.ascontiguousarray(np.asarray(old)[:, :, ::-1])
    ours = WatermarkDecoder("bits", 48).decode(bgr, "dwtDctSvd", scales=[watermarks.ATELIER_SCALE, 0, 0])
    assert (np.asarray(ours, dtype=np.uint8) == watermarks.message_bits(watermarks.ATELIER_MESSAGE)).sum() == 48
    reading = watermarks.read_atelier(old)
    assert reading.found and reading.version == 1 and reading.matched == 48
    assert inspect(png_bytes(old)).signal("Atelier watermark").details["bits_matched"] == 48


def test_sdxl_mark_setting_off_writes_only_atelier_mark(tmp_path: Path) -> None:
    path = OutputWriter(tmp_path, sdxl_mark=False).save(photo(), "txt2img", seed=1, prompt="x", infotext=INFOTEXT)
    image = Image.open(path)
    assert read_record(image).marks == ("atelier-2",)
    assert watermarks.read_atelier(image).found and not watermarks.read_sdxl(image).found


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "camera"])
def test_images_that_never_went_through_atelier_show_no_mark(name: str) -> None:
    report = inspect(png_bytes(photo(name)))
    assert not report.signal("Atelier watermark").found
    assert not report.signal("SDXL watermark").found
    assert report.verdict == NOTHING_FOUND


def test_chance_of_matches_is_a_binomial_tail() -> None:
    assert watermarks.chance_of_matches(0) == 1.0
    assert watermarks.chance_of_matches(48) == 2.0 ** -48
    assert watermarks.chance_of_matches(40) < 2e-6 < watermarks.chance_of_matches(30)


# -- read back ----------------------------------------------------------------------------
def test_inspect_reports_each_signal_and_a_verdict(marked_png: Path) -> None:
    report = inspect(marked_png.read_bytes())
    assert report.verdict.startswith("Made by Atelier (txt2img)")
    found = {s.name for s in report.signals if s.found}
    assert {"Infotext", "Provenance record", "IPTC source type", "SDXL watermark", "Atelier watermark"} <= found
    assert report.signal("Infotext").details["origin"] == "Atelier"
    assert report.signal("Atelier watermark").details["version"] == 2
    assert report.signal("Atelier watermark").details["correlation_z"] > 10
    assert not report.signal("C2PA").found


def test_inspect_after_jpeg_q75_still_attributes_the_image(marked_png: Path) -> None:
    stripped = jpeg(Image.open(marked_png), 75)  # metadata gone, pixels recompressed
    report = inspect(stripped)
    assert report.verdict == "Made by Atelier: invisible mark found"
    assert not report.signal("Provenance record").found


def test_a1111_infotext_alone_gives_a_hedged_verdict() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Model: sd15, Version: v1.10.0")
    buffer = io.BytesIO()
    photo("coffee").save(buffer, format="PNG", pnginfo=info)
    report = inspect(buffer.getvalue())
    assert report.signal("Infotext").details["origin"] == "A1111-style"
    assert report.verdict.startswith("Likely AI-generated")


def test_phone_photo_with_a_user_comment_is_not_called_ai_generated() -> None:
    """Cameras and phones write text into EXIF UserComment too; it is not an infotext."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Google", "Pixel 8"  # Make, Model
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\0\0\0" + b"Sunset at the beach, ISO 100, f/1.8, 1/120 s"
    buffer = io.BytesIO()
    photo("coffee").save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    report = inspect(buffer.getvalue())
    assert read_infotext(Image.open(io.BytesIO(buffer.getvalue()))).startswith("Sunset at the beach")
    assert not report.signal("Infotext").found
    assert report.verdict == NOTHING_FOUND


def test_c2pa_manifest_is_read() -> None:
    pytest.importorskip("c2pa")
    from tests.factory_c2pa import signed_png

    report = inspect(signed_png(photo("coffee")))
    c2pa = report.signal("C2PA")
    assert c2pa.found and c2pa.details["generator"] == "test-generator 1.0"
    assert c2pa.details["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert "signingCredential.untrusted" in c2pa.details["validation"]
    assert report.verdict.startswith("AI-generated per its C2PA manifest (test-generator 1.0")


def test_record_parser_ignores_foreign_or_broken_json() -> None:
    assert ProvenanceRecord.from_json("not json") is None
    assert ProvenanceRecord.from_json('{"schema": "other", "operation": "x"}') is None
    record = ProvenanceRecord.new("txt2img", marks=("atelier",))
    assert ProvenanceRecord.from_json(record.to_json()) == record


# -- UI action and API ----------------------------------------------------------------------
def test_detect_ui_action(marked_png: Path, tmp_path: Path) -> None:
    rows, verdict = inspect_upload(str(marked_png))
    assert "Made by Atelier" in verdict
    assert ["Atelier watermark", "yes"] == rows[-1][:2]
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"definitely not an image")
    with pytest.raises(ImageDecodeError, match="not a decodable image"):
        inspect_upload(str(junk))
    with pytest.raises(ImageDecodeError, match="drop an image"):
        inspect_upload(None)


def test_detect_response_leaves_room_for_face_scores(marked_png: Path) -> None:
    report = inspect(marked_png.read_bytes())
    body = detect_response(report, faces=[{"box": [0, 0, 1, 1], "fake_probability": 0.1}], face_verdict="no face looks fake")
    assert body["faces"][0]["fake_probability"] == 0.1
    assert body["verdict"] == f"{report.verdict}. Faces: no face looks fake"


def test_detect_route(ctx: AtelierContext, marked_png: Path) -> None:
    client = TestClient(create_app(ctx, api=True, webui=False))
    encoded = base64.b64encode(marked_png.read_bytes()).decode()
    response = client.post("/atelier/v1/detect", json={"image": "data:image/png;base64," + encoded})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["faces"] == [] and body["verdict"].startswith("Made by Atelier")
    signals = {s["name"]: s for s in body["provenance"]["signals"]}
    assert signals["Atelier watermark"]["found"] and signals["Atelier watermark"]["details"]["version"] == 2
    assert signals["Provenance record"]["details"]["operation"] == "txt2img"

    bad = client.post("/atelier/v1/detect", json={"image": base64.b64encode(b"GIF89a nope").decode()})
    assert bad.status_code == 422 and "not a decodable image" in bad.json()["detail"]
    missing = client.post("/atelier/v1/detect", json={})
    assert missing.status_code == 422


def test_saving_an_engine_result_again_keeps_its_record_and_marks(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path)
    stamped = writer.stamp(photo(), "txt2img", INFOTEXT)
    path = writer.save_numbered(stamped.image, tmp_path / "saved", "5", INFOTEXT)
    saved = Image.open(path)
    assert read_record(saved) == stamped.record
    assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(stamped.image))
