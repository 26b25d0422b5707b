"""Face swap as a post-process of generation (ReActor-style), registered through the public
extension API like any third-party always-on script.

Positional arguments (the UI accordion's controls and the API's
``alwayson_scripts: {"face swap": {"args": [...]}}`` in the same order):

0. source image — base64 / data URL in the API, a picture in the UI
1. source face index (0 = leftmost face)
2. target face indices: ``"0"``, ``"0,2"`` or ``"all"``
3. method: auto / inswapper / classic
4. restore model: a file of ``models/facerestore`` or ``"None"``
5. restore visibility 0..1

The source is detected once per job (the first image prepares it, later images and jobs with
the same source reuse it); the infotext records the method that ran, e.g.
``Face swap: "classic, source face 0, target faces 0"``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from PIL import Image

from webui.extensions import (
    SWAP_METHODS as METHODS,
    AlwaysOnScript,
    Extension,
    FaceTools,
    ImageInfo,
    PreparedSource,
    ScriptArg,
    SwapOptions,
    Targets,
    decode_image,
    parse_targets,
)

NONE = "None"
INFOTEXT_KEY = "Face swap"
CACHED_SOURCES = 4


@dataclass(frozen=True)
class SwapArgs:
    """The positional arguments, checked and decoded."""

    source: Optional[Image.Image]
    """None for a trained model method (the model holds the source person)."""
    digest: str
    face_index: int
    targets: Targets
    method: str
    restore: Optional[str]
    restore_weight: float


def _source_image(value: Any) -> Image.Image:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("face swap: give a source image (the face to put into the generated images)")
    if isinstance(value, str):
        return decode_image(value, "face swap source image")
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, np.ndarray):
        return Image.fromarray(value[..., :3].astype(np.uint8)).convert("RGB")
    raise ValueError(f"face swap: the source image must be base64 / a data URL, got {type(value).__name__}")


def _number(value: Any, label: str, cast: type) -> Any:
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise ValueError(f"face swap: {label} must be a number, got {value!r}") from None


class FaceSwap(AlwaysOnScript):
    title = "face swap"
    args = (ScriptArg("Source image", None), ScriptArg("Source face index", 0, 0, 31, 1),
            ScriptArg("Target face indices", "0"), ScriptArg("Method", "auto", choices=METHODS),
            ScriptArg("Restore face", NONE), ScriptArg("Restore visibility", 1.0, 0.0, 1.0, 0.05))

    def __init__(self, faces: FaceTools) -> None:
        self.faces = faces
        self._sources: OrderedDict[tuple[str, int, str], PreparedSource] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, args: list[Any]) -> SwapArgs:
        """Decoded arguments (missing trailing ones take their defaults); ValueError naming the bad one."""
        if len(args) > len(self.args):
            raise ValueError(f"face swap takes at most {len(self.args)} arguments, got {len(args)}")
        values = [*args, *(arg.value for arg in self.args[len(args):])]
        method = str(values[3] or "auto")
        methods = self.faces.swap_methods()
        if method not in methods:
            raise ValueError(f"face swap: unknown method {method!r}; use one of {', '.join(methods)}")
        source = _source_image(values[0]) if self.faces.needs_source(method) else None
        face_index = _number(values[1], "source face index", int)
        restore = None if str(values[4] or NONE) in (NONE, "none", "") else str(values[4])
        if restore is not None:
            self.faces.require_restorer(restore)
        weight = _number(values[5], "restore visibility", float)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"face swap: restore visibility must be between 0 and 1, got {weight}")
        digest = hashlib.sha256(source.tobytes()).hexdigest() if source is not None else ""
        return SwapArgs(source, digest, face_index, parse_targets(str(values[2])), method, restore, weight)

    def prepared(self, parsed: SwapArgs) -> PreparedSource:
        """The source detected and embedded once; kept for the next images and jobs using it."""
        key = (parsed.digest, parsed.face_index, parsed.method)
        with self._lock:
            if key in self._sources:
                self._sources.move_to_end(key)
                return self._sources[key]
        prepared = self.faces.prepare_source(parsed.source, parsed.face_index, parsed.method)
        with self._lock:
            self._sources[key] = prepared
            while len(self._sources) > CACHED_SOURCES:
                self._sources.popitem(last=False)
        return prepared

    def check_args(self, args: list[Any]) -> None:
        """Bad base64, no face in the source, an index out of range → ValueError (HTTP 422)."""
        self.prepared(self.parse(args))

    def before_generation(self, request: Any, args: list[Any]) -> Any:
        parsed = self.parse(args)
        prepared = self.prepared(parsed)
        targets = "all" if parsed.targets == "all" else ",".join(map(str, parsed.targets))
        note = f"{prepared.method}, {prepared.label}, target faces {targets}"
        if parsed.restore:
            note += f", restore {parsed.restore} ({parsed.restore_weight:g})"
        return request.model_copy(update={"extra": {**request.extra, INFOTEXT_KEY: note}})

    def postprocess_image(self, image: Image.Image, info: ImageInfo, args: list[Any]) -> Image.Image:
        parsed = self.parse(args)
        options = SwapOptions(target_faces=parsed.targets, restore=parsed.restore, restore_weight=parsed.restore_weight)
        return self.faces.swap(image, self.prepared(parsed), options)


def face_swap_controls(kind: str, faces: FaceTools) -> list[Any]:
    """Source picture, face indices, method, restorer: one control per argument, in order."""
    import gradio as gr

    with gr.Row():
        source = gr.Image(label="Source face", type="pil", sources=["upload", "clipboard"], height=220,
                          elem_id=f"{kind}_face_swap_source")
        with gr.Column():
            face_index = gr.Number(0, label="Source face index", precision=0, minimum=0)
            targets = gr.Textbox("0", label="Target face indices", placeholder="0  ·  0,2  ·  all")
            method = gr.Dropdown(faces.swap_methods(), value="auto", label="Method",
                                 info="auto: inswapper when its files are in models/insightface, else classic; "
                                      "a trained model (models/dfl) needs no source picture")
    method.focus(lambda: gr.update(choices=faces.swap_methods()), outputs=method, queue=False)
    with gr.Row():
        restore = gr.Dropdown([NONE, *faces.restorers()], value=NONE, label="Restore face")
        weight = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Restore visibility")
    return [source, face_index, targets, method, restore, weight]


def setup(ext: Extension) -> None:
    # The swap runs on the shared Faces engine and its model cache (ext.faces, API 2).
    script = FaceSwap(ext.faces)
    script.ui = lambda kind: face_swap_controls(kind, ext.faces)
    ext.add_script(script)
