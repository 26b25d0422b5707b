"""Short synthetic videos for tests, written with PyAV: moving content and a sine-wave audio track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, Sequence

import av
import numpy as np
from scipy import ndimage

from pipelines.faces.types import DetectedFace

FrameMaker = Callable[[int], np.ndarray]


def moving_square(width: int, height: int) -> FrameMaker:
    """Frame i: a white square sliding right over a background whose red changes per frame."""

    def frame(i: int) -> np.ndarray:
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 0] = (i * 20) % 256
        x = (i * 4) % max(1, width - 10)
        image[height // 4: height // 4 + 10, x: x + 10] = 255
        return image

    return frame


def sine(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_video(path: Path, frames: int = 12, fps: int = 12, size: tuple[int, int] = (64, 48), *,
                make_frame: Optional[FrameMaker] = None, video_codec: str = "libx264",
                audio_codec: Optional[str] = "aac", audio_rate: int = 44100) -> Path:
    """A ``frames``-long clip at ``fps``; with ``audio_codec`` a mono 440 Hz sine as long as the video."""
    width, height = size
    make_frame = make_frame or moving_square(width, height)
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=Fraction(fps))
        video.width, video.height = width, height
        video.pix_fmt = "rgb8" if video_codec == "gif" else "yuv420p"
        audio = out.add_stream(audio_codec, rate=audio_rate) if audio_codec else None
        if audio is not None:
            audio.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(make_frame(i), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            wave = sine(frames / fps, audio_rate)
            chunk = audio.codec_context.frame_size or 1024
            for start in range(0, len(wave), chunk):
                samples = av.AudioFrame.from_ndarray(wave[None, start:start + chunk], format="fltp", layout="mono")
                samples.sample_rate, samples.pts = audio_rate, start
                out.mux(audio.encode(samples))
            out.mux(audio.encode(None))
    return path


def probe_streams(path: Path) -> dict:
    """What a probe of the output reports: video frames counted by decoding, fps, audio duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        result = {
            "fps": video.average_rate, "width": video.codec_context.width, "height": video.codec_context.height,
            "codec": video.codec_context.name, "pix_fmt": video.codec_context.pix_fmt,
            "audio_codec": audio.codec_context.name if audio is not None else None,
            "audio_seconds": float(audio.duration * audio.time_base) if audio is not None and audio.duration else None,
        }
        result["frames"] = sum(1 for _ in container.decode(video=0))
    return result


# -- a stand-in face engine for the video job and route tests ----------------------------------
W, H, SIZE = 160, 96, 24
RED, BLUE = (230, 30, 30), (30, 30, 230)


def crossing(i: int) -> dict[tuple[int, int, int], tuple[int, int]]:
    """Top-left corner of each square in frame i: red walks right above blue walking left; their
    left-to-right order flips at i≈6."""
    return {RED: (10 + 10 * i, 16), BLUE: (126 - 10 * i, 50)}


def draw(i: int) -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    for colour, (x, y) in crossing(i).items():
        image[y:y + SIZE, x:x + SIZE] = colour
    return image


class SquareSwapper:
    """Finds saturated red / blue squares; swapping paints them green."""

    method = "stand-in"

    def __init__(self) -> None:
        self.detect_calls = 0

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        self.detect_calls += 1
        faces = []
        for channel, embedding in ((0, [1.0, 0.0]), (2, [0.0, 1.0])):
            mask = (image[..., channel] > 150) & (image[..., 1] < 100)
            labels, _ = ndimage.label(mask)
            for sl in ndimage.find_objects(labels):
                ys, xs = sl
                if (ys.stop - ys.start) * (xs.stop - xs.start) < 100:
                    continue
                faces.append(DetectedFace(box=(xs.start, ys.start, xs.stop, ys.stop), score=1.0,
                                          kps5=np.zeros((5, 2), np.float32), embedding=np.array(embedding)))
        return sorted(faces, key=lambda f: f.center[0])

    def swap(self, image: np.ndarray, targets: Sequence[DetectedFace]) -> np.ndarray:
        out = image.copy()
        for face in targets:
            x1, y1, x2, y2 = (int(v) for v in face.box)
            out[y1:y2, x1:x2] = (30, 230, 30)
        return out


def green_at(image: np.ndarray, corner: tuple[int, int]) -> bool:
    x, y = corner
    r, g, b = image[y + 6:y + SIZE - 6, x + 6:x + SIZE - 6].reshape(-1, 3).mean(axis=0)
    return g > 150 and r < 100 and b < 100
