"""Video decode / encode with PyAV: timing, frame count, even sizes and the source audio survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.fileio import atomic_open
from pipelines.media.video import VideoError, VideoWriter, even_size, probe, read_frames
from tests.video_factory import probe_streams, write_video

pytestmark = pytest.mark.e2e  # video encoding and decoding

AAC_FRAME = 1024 / 44100  # one AAC frame: the most an audio duration may differ by


def round_trip(source: Path, target: Path) -> None:
    info = probe(source)
    with VideoWriter(target, info, audio_from=source) as writer:
        for frame in read_frames(source):
            writer.write(frame.image, frame.pts)


def test_mp4_round_trip_keeps_fps_frames_pixels_and_copies_audio(tmp_path: Path) -> None:
    source = write_video(tmp_path / "in.mp4", frames=12, fps=12)
    info = probe(source)
    assert (info.width, info.height, info.fps, info.frame_count, info.audio_codec) == (64, 48, 12, 12, "aac")
    frames = list(read_frames(source))
    assert [f.index for f in frames] == list(range(12))
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert [round(f.time * 12) for f in frames] == list(range(12))

    round_trip(source, tmp_path / "out.mp4")
    out = probe_streams(tmp_path / "out.mp4")
    assert (out["fps"], out["frames"], out["codec"], out["pix_fmt"]) == (12, 12, "h264", "yuv420p")
    assert out["audio_codec"] == "aac"
    assert out["audio_seconds"] == pytest.approx(1.0, abs=AAC_FRAME)
    again = list(read_frames(tmp_path / "out.mp4"))
    for before, after in zip(frames, again):  # crf 18: close, not lossless
        assert np.abs(before.image.astype(int) - after.image.astype(int)).mean() < 6


def test_webm_with_opus_is_reencoded_to_aac_and_keeps_exact_fps(tmp_path: Path) -> None:
    # WebM's millisecond clock stores 12 fps as 0.083 s steps; the output must still be 12 fps
    source = write_video(tmp_path / "in.webm", frames=12, fps=12, video_codec="libvpx", audio_codec="libopus",
                         audio_rate=48000)
    info = probe(source)
    assert (info.codec, info.audio_codec, info.frame_count) == ("vp8", "opus", 12)
    round_trip(source, tmp_path / "out.mp4")
    out = probe_streams(tmp_path / "out.mp4")
    assert (out["fps"], out["frames"], out["audio_codec"]) == (12, 12, "aac")
    assert out["audio_seconds"] == pytest.approx(1.0, abs=AAC_FRAME)


def test_gif_with_odd_size_becomes_even_mp4_without_audio(tmp_path: Path) -> None:
    source = write_video(tmp_path / "in.gif", frames=8, fps=10, size=(63, 47), video_codec="gif", audio_codec=None)
    info = probe(source)
    assert (info.codec, info.width, info.height, info.has_audio) == ("gif", 63, 47, False)
    round_trip(source, tmp_path / "out.mp4")
    out = probe_streams(tmp_path / "out.mp4")
    assert (out["width"], out["height"], out["frames"], out["fps"], out["audio_codec"]) == (64, 48, 8, 10, None)


def test_writer_into_atomic_file_leaves_nothing_when_aborted(tmp_path: Path) -> None:
    source = write_video(tmp_path / "in.mp4", frames=6, fps=6)
    target = tmp_path / "out" / "result.mp4"
    with pytest.raises(RuntimeError, match="stop"):
        with atomic_open(target) as handle, VideoWriter(handle, probe(source), audio_from=source) as writer:
            for frame in read_frames(source):
                writer.write(frame.image, frame.pts)
                if frame.index == 2:
                    raise RuntimeError("stop")
    assert list(target.parent.iterdir()) == []
    with atomic_open(target) as handle, VideoWriter(handle, probe(source), audio_from=source) as writer:
        for frame in read_frames(source):
            writer.write(frame.image, frame.pts)
    assert probe_streams(target)["frames"] == 6 and [p.name for p in target.parent.iterdir()] == ["result.mp4"]


def test_even_size_pads_with_the_edge_pixels() -> None:
    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    padded = even_size(image)
    assert padded.shape == (4, 6, 3)
    assert (padded[:3, :5] == image).all() and (padded[3, :5] == image[2]).all() and (padded[:3, 5] == image[:, 4]).all()
    assert even_size(padded) is padded


@pytest.mark.parametrize("content", [b"", b"hello, not a video", b"\x89PNG\r\n\x1a\n" + b"\0" * 64])
def test_unreadable_files_raise_video_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match="clip.mp4"):
        probe(path)
    with pytest.raises(VideoError, match="clip.mp4"):
        list(read_frames(path))


def test_a_still_image_is_not_a_video(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "face.png")
    with pytest.raises(VideoError, match="face.png: is a still image"):
        probe(tmp_path / "face.png")
