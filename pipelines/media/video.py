"""Video in and out, in-process with PyAV: RGB frames with timestamps in, h264 mp4 with audio out.

Frames stream one at a time, so a long video never sits in memory. Each frame keeps its source
timestamp and the output stream keeps the source time base and frame rate, so the result plays
at the source's speed (variable-rate GIFs included). The source audio goes back into the output,
interleaved with the video as it is written: copied as-is when mp4 can hold its codec, else
re-encoded to AAC.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Iterator, Optional, Union

import math

import av
import numpy as np

Target = Union[Path, IO[bytes]]

# Audio codecs the mp4 muxer stores as they are (no re-encode, no quality loss)
_MP4_AUDIO = frozenset({"aac", "mp3", "alac", "ac3", "eac3"})
_FALLBACK_FPS = Fraction(25)
# FFmpeg opens single pictures as one-frame "videos" (png_pipe, jpeg_pipe, …)
_IMAGE_DEMUXERS = frozenset({"image2", "image2pipe"})
_MAX_TIMESCALE = 1 << 30  # mp4 keeps its clock rate in 32 bits


class VideoError(ValueError):
    """The file is not a video PyAV can decode (or has no video stream).

    ``reason`` is the problem without the file name, for callers that know the file by
    another name (an upload stored under a generated one).
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{Path(path).name}: {reason}")
        self.reason = reason


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's message without the path it appends."""
    return getattr(exc, "strerror", None) or type(exc).__name__


@dataclass(frozen=True)
class VideoInfo:
    """What a writer needs to reproduce the source's timing, and what a progress bar needs."""

    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    """Exact when the container says so (mp4, mov), else estimated from duration × fps."""
    duration: float
    codec: str
    audio_codec: Optional[str] = None
    audio_duration: Optional[float] = None
    start: float = 0.0
    """Earliest timestamp of any stream (s); frame and audio times are counted from it."""

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass(frozen=True)
class Frame:
    """One decoded picture: RGB uint8 (H, W, 3) and when it is shown."""

    index: int
    pts: int
    """Presentation time in ``VideoInfo.time_base`` units, counted from the video's start."""
    time: float
    image: np.ndarray


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(path, f"not a readable video ({_ffmpeg_reason(exc)})") from exc
    problem = ("is a still image, not a video" if container.format.name in _IMAGE_DEMUXERS
               or container.format.name.endswith("_pipe")
               else None if container.streams.video else "has no video stream")
    if problem:
        container.close()
        raise VideoError(path, problem)
    return container


def _seconds(value: Optional[int], time_base: Optional[Fraction]) -> Optional[float]:
    return float(value * time_base) if value is not None and time_base else None


def _start_seconds(container: av.container.InputContainer) -> float:
    """The container's first timestamp (AV_TIME_BASE units), 0 when unknown."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def probe(path: Path) -> VideoInfo:
    """Read the stream headers (decodes nothing)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoError(path, "video stream has no picture size")
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or _FALLBACK_FPS
        duration = _seconds(stream.duration, stream.time_base)
        if duration is None and container.duration is not None:
            duration = container.duration / av.time_base
        frames = stream.frames or (round(duration * fps) if duration else 0)
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            width=ctx.width, height=ctx.height, fps=Fraction(fps), time_base=Fraction(stream.time_base or 1 / fps),
            frame_count=int(frames), duration=float(duration or 0.0), codec=ctx.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_duration=_seconds(audio.duration, audio.time_base) if audio is not None else None,
            start=_start_seconds(container),
        )


def read_frames(path: Path) -> Iterator[Frame]:
    """Decode the first video stream frame by frame, as RGB."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = Fraction(stream.time_base)
        origin = round(_start_seconds(container) / time_base)
        fps = stream.average_rate or stream.guessed_rate or _FALLBACK_FPS
        try:
            for index, frame in enumerate(container.decode(stream)):
                pts = frame.pts - origin if frame.pts is not None else round(index / fps / time_base)
                yield Frame(index, pts, float(pts * time_base), frame.to_ndarray(format="rgb24"))
        except av.FFmpegError as exc:
            raise VideoError(path, f"decoding failed ({_ffmpeg_reason(exc)})") from exc


def even_size(image: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row / column where one is odd."""
    pad_h, pad_w = image.shape[0] % 2, image.shape[1] % 2
    if not (pad_h or pad_w):
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _output_time_base(fps: Fraction, source: Fraction) -> Fraction:
    """A clock that ticks on every source timestamp and on every 1/fps step (their gcd).

    Containers with coarse clocks (WebM counts milliseconds) store a 12 fps video at 0.083 s,
    0.167 s, …; the writer snaps such times back onto the exact 1/fps grid, which needs both.
    """
    step = 1 / Fraction(fps)
    base = Fraction(math.gcd(source.numerator, step.numerator), math.lcm(source.denominator, step.denominator))
    return base if base.denominator <= _MAX_TIMESCALE else source


class _AudioTrack:
    """The source's first audio stream, written into the output up to a given time.

    Interleaving audio with the video as frames arrive keeps the muxer's buffers small.
    """

    def __init__(self, source: Path, output: av.container.OutputContainer) -> None:
        self._input = av.open(str(source), mode="r")
        self._in = self._input.streams.audio[0]
        self._origin = round(_start_seconds(self._input) / Fraction(self._in.time_base))
        self.copy = self._in.codec_context.name in _MP4_AUDIO
        if self.copy:
            self._out = output.add_stream_from_template(self._in)
        else:
            self._out = output.add_stream("aac", rate=self._in.codec_context.sample_rate)
            self._out.codec_context.layout = self._in.codec_context.layout
        self._packets = self._input.demux(self._in)
        self._pending: Optional[av.Packet] = None
        self._done = False

    def write_until(self, output: av.container.OutputContainer, seconds: Optional[float]) -> None:
        """Write every audio packet that starts before ``seconds`` (all of them for None)."""
        while not self._done:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    self._done = True
                    break
            packet = self._pending
            if packet.dts is None:  # the demuxer's end-of-stream marker
                self._pending = None
                continue
            if seconds is not None and packet.pts is not None and float((packet.pts - self._origin) * packet.time_base) > seconds:
                break
            self._pending = None
            self._write(output, packet)
        if seconds is None and not self.copy:
            output.mux(self._out.encode(None))

    def _write(self, output: av.container.OutputContainer, packet: av.Packet) -> None:
        if self.copy:
            packet.pts = packet.pts - self._origin if packet.pts is not None else None
            packet.dts = packet.dts - self._origin
            packet.stream = self._out
            output.mux(packet)
            return
        for frame in self._in.codec_context.decode(packet):
            if frame.pts is not None:
                frame.pts -= self._origin
            output.mux(self._out.encode(frame))

    def close(self) -> None:
        self._input.close()


class VideoWriter:
    """Encode RGB frames to an h264 / yuv420p mp4 with the source's timing and audio.

    ``target`` is a path or an open binary file (e.g. from :func:`pipelines.fileio.atomic_open`,
    so a cancelled job leaves no half-written video).
    """

    def __init__(self, target: Target, like: VideoInfo, audio_from: Optional[Path] = None, *,
                 crf: int = 18, preset: str = "veryfast") -> None:
        self.info = like
        self._output = av.open(target if not isinstance(target, Path) else str(target), mode="w", format="mp4")
        self._stream = self._output.add_stream("libx264", rate=like.fps, options={"crf": str(crf), "preset": preset})
        self._stream.pix_fmt = "yuv420p"
        self._stream.width, self._stream.height = like.width + like.width % 2, like.height + like.height % 2
        self._time_base = _output_time_base(like.fps, like.time_base)
        self._stream.codec_context.time_base = self._time_base
        self._audio = _AudioTrack(audio_from, self._output) if audio_from is not None and like.has_audio else None
        self._last_pts: Optional[int] = None
        self.frames_written = 0

    def write(self, image: np.ndarray, pts: Optional[int] = None) -> None:
        """Add one RGB frame shown at ``pts`` (source time-base units; None: the next one at the fps)."""
        time = self._frame_time(pts)
        out_pts = int(time / self._time_base)
        if self._last_pts is not None and out_pts <= self._last_pts:
            out_pts = self._last_pts + 1  # the encoder needs strictly increasing timestamps
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even_size(image)), format="rgb24")
        frame.pts, frame.time_base = out_pts, self._time_base
        self._output.mux(self._stream.encode(frame))
        self._last_pts = out_pts
        self.frames_written += 1
        if self._audio is not None:
            self._audio.write_until(self._output, float(time))

    def _frame_time(self, pts: Optional[int]) -> Fraction:
        """Seconds: the source time, or the nearest 1/fps step when the source clock merely rounded it."""
        fps = self.info.fps
        if pts is None:
            return self.frames_written / fps
        time = pts * self.info.time_base
        grid = round(time * fps) / fps
        return grid if abs(time - grid) < self.info.time_base else time

    def close(self) -> None:
        """Flush the encoder, write the rest of the audio, finish the file."""
        try:
            self._output.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.write_until(self._output, None)
        finally:
            if self._audio is not None:
                self._audio.close()
            self._output.close()

    def abort(self) -> None:
        """Release everything without finishing the file (the caller discards it)."""
        if self._audio is not None:
            self._audio.close()
        self._output.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
