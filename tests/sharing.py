"""What sharing does to a picture (for the provenance-mark tests and ``bench/provenance.py``),
and the clean pictures a mark must not be found in: photos that ship inside installed wheels.

Every transform takes and returns a PIL RGB image; none downloads anything.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageEnhance

Transform = Callable[[Image.Image], Image.Image]


def jpeg(quality: int) -> Transform:
    def apply(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return apply


def brightness_shift(levels: int) -> Transform:
    """Every level moved by ``levels`` (what a +2 in an editor does), clipped."""
    return lambda image: Image.fromarray(np.clip(np.asarray(image, np.int16) + levels, 0, 255).astype(np.uint8))


def brightness(factor: float) -> Transform:
    return lambda image: ImageEnhance.Brightness(image.convert("RGB")).enhance(factor)


def contrast(factor: float) -> Transform:
    return lambda image: ImageEnhance.Contrast(image.convert("RGB")).enhance(factor)


def crop(fraction: float) -> Transform:
    """``fraction`` of each side cut away in total, unevenly (more off the left and top)."""
    def apply(image: Image.Image) -> Image.Image:
        w, h = image.size
        dx, dy = int(w * fraction), int(h * fraction)
        return image.crop((dx * 2 // 3, dy * 2 // 3, w - dx // 3, h - dy // 3))
    return apply


def resize(factor: float) -> Transform:
    """Rescaled by ``factor`` and kept at that size."""
    return lambda image: image.resize((round(image.width * factor), round(image.height * factor)),
                                      Image.Resampling.LANCZOS)


def screenshot(factor: float = 1.25, offset: tuple[int, int] = (37, 61)) -> Transform:
    """What a screenshot of the picture shown on a HiDPI screen looks like: rescaled by
    ``factor`` (bilinear, as browsers draw), pasted at ``offset`` into a grey window, PNG."""
    def apply(image: Image.Image) -> Image.Image:
        shown = image.convert("RGB").resize((round(image.width * factor), round(image.height * factor)),
                                            Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (shown.width + offset[0] + 23, shown.height + offset[1] + 41), (236, 236, 236))
        canvas.paste(shown, offset)
        buffer = io.BytesIO()
        canvas.save(buffer, format="PNG")
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return apply


def h264(crf: int = 23, frames: int = 6, pick: int = 3) -> Transform:
    """The picture as frame ``pick`` of an h264 clip (libx264, yuv420p, ``crf``) through PyAV,
    with a one-pixel pan per frame so the encoder codes motion rather than copying."""
    def apply(image: Image.Image) -> Image.Image:
        import av

        rgb = np.asarray(image.convert("RGB"))
        h, w = (rgb.shape[0] - frames) // 2 * 2, (rgb.shape[1] - frames) // 2 * 2
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(crf)}
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[i:i + h, i:i + w]), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        buffer.seek(0)
        with av.open(buffer) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        return Image.fromarray(decoded[pick])
    return apply


SHARING: dict[str, Transform] = {
    "none (lossless PNG)": lambda image: image,
    "brightness +2 levels": brightness_shift(2),
    "brightness −10%": brightness(0.9),
    "brightness +10%": brightness(1.1),
    "contrast −10%": contrast(0.9),
    "contrast +10%": contrast(1.1),
    "crop 10%": crop(0.10),
    "resize 0.5× (kept small)": resize(0.5),
    "screenshot: 1.25× rescale, offset paste": screenshot(1.25),
    "screenshot: 1× offset paste": screenshot(1.0, (13, 37)),
    "JPEG q75": jpeg(75),
    "JPEG q50": jpeg(50),
    "h264 crf 23 (yuv420)": h264(23),
}


# -- clean pictures ---------------------------------------------------------------------------
def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is not installed"
    return Path(spec.origin).parent


def _as_rgb(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        array = (255 * (array.astype(np.float64) - array.min()) / max(float(np.ptp(array)), 1e-9)).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def wheel_photos() -> Iterator[tuple[str, Image.Image]]:
    """Photos and drawings shipped in scikit-image, insightface and matplotlib (no downloads)."""
    from skimage import data

    for name in ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel",
                 "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms",
                 "moon", "page", "retina", "rocket", "text", "checkerboard", "motorcycle_left", "motorcycle_right"):
        try:
            array = getattr(data, name)()
        except Exception:  # a data image that would need a download: not shipped
            continue
        if isinstance(array, tuple):
            array = array[0]
        yield f"skimage {name}", _as_rgb(array)
    for path in sorted((_package_dir("insightface") / "data" / "images").glob("*")):
        if path.suffix.lower() in (".jpg", ".png"):
            yield f"insightface {path.name}", Image.open(path).convert("RGB")
    samples = _package_dir("matplotlib") / "mpl-data" / "sample_data"
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        if (samples / name).exists():
            yield f"matplotlib {name}", Image.open(samples / name).convert("RGB")


def lfw_faces() -> np.ndarray:
    """scikit-image's ``lfw_subset``: 200 grey 25×25 faces (float 0..1)."""
    return np.load(_package_dir("skimage") / "data" / "lfw_subset.npy")


def lfw_mosaic(faces: np.ndarray, start: int, side: int = 10, cell: int = 40) -> Image.Image:
    """``side``² LFW faces from ``start`` (wrapping) upscaled into one ``side·cell`` square picture."""
    tiles = [Image.fromarray((faces[(start + i) % len(faces)] * 255).astype(np.uint8)).resize(
        (cell, cell), Image.Resampling.BICUBIC) for i in range(side * side)]
    mosaic = Image.new("L", (side * cell, side * cell))
    for i, tile in enumerate(tiles):
        mosaic.paste(tile, ((i % side) * cell, (i // side) * cell))
    return mosaic.convert("RGB")


def clean_crops(count: int, seed: int = 0, sizes: tuple[int, int] = (160, 512), video: bool = True
                ) -> Iterator[tuple[str, Image.Image]]:
    """``count`` unmarked pictures: random crops (side ``sizes``) of the wheel photos and LFW
    mosaics, each put through a random sharing transform (or none; h264 only with ``video``)."""
    rng = np.random.default_rng(seed)
    sources = [(name, image) for name, image in wheel_photos() if min(image.size) >= sizes[0]]
    faces = lfw_faces()
    sources += [(f"lfw mosaic {start}", lfw_mosaic(faces, start)) for start in range(0, 200, 40)]
    transforms = [(k, t) for k, t in SHARING.items() if video or "h264" not in k]
    for index in range(count):
        name, image = sources[index % len(sources)]
        side = int(rng.integers(sizes[0], min(sizes[1], *image.size) + 1))
        x = int(rng.integers(0, image.width - side + 1))
        y = int(rng.integers(0, image.height - side + 1))
        label, transform = transforms[int(rng.integers(0, len(transforms)))]
        yield f"{name} [{x},{y} {side}²] {label}", transform(image.crop((x, y, x + side, y + side)))
