"""Always-on scripts: code that runs inside every generation that enables it (A1111's
``AlwaysVisible`` scripts, e.g. a face swap applied to each generated image).

The registry is ``ctx.alwayson`` (one per :class:`~pipelines.context.AtelierContext`, handed to
the engine; there is no module-level registry). A request enables scripts by name with
positional arguments: ``GenerationRequest.alwayson_scripts = {"face swap": [arg0, arg1, …]}``
(the API's ``alwayson_scripts: {name: {"args": [...]}}``). Only enabled scripts run.

Writing one (the interface the Extensions API and the Faces engine build on)::

    class Tint(AlwaysOnScript):
        title = "Tint"                        # matched case-insensitively; API lists it lower-case
        args = (ScriptArg("red", 0, 0, 255),)  # described by GET /sdapi/v1/script-info

        def check_args(self, args): ...        # ValueError → HTTP 422 before the job is queued
        def before_generation(self, request, args):  # may return a changed request
            return request.model_copy(update={"extra": {**request.extra, "Tint": args[0]}})
        def before_batch(self, request, batch, seeds, args): ...  # each batch (A1111's process_batch)
        def postprocess_image(self, image, info, args):  # each image, before infotext and saving
            return image
        def after_generation(self, result, args): ...   # once per engine job, with every image

    unregister = ctx.alwayson.register(Tint(), owner="my extension")

Hooks run in registration order. ``check_args`` and ``before_generation`` errors fail the
request (they are about its arguments); an error in ``postprocess_image`` or
``after_generation`` is logged and reported in the result's ``warnings``, and the image is
kept unchanged, so one broken script never loses a generation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from PIL import Image

from pipelines.diffusion.request import GenerationRequest
from pipelines.diffusion.result import GenerationResult
from pipelines.registry import ScriptArg, TitledRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageInfo:
    """What ``postprocess_image`` knows about the image it may change."""

    kind: str  # "txt2img" or "img2img"
    request: GenerationRequest
    seed: int
    index: int  # position in the job's images


class AlwaysOnScript:
    """Base class: override the hooks you need; the defaults change nothing."""

    title: str = ""
    txt2img: bool = True
    img2img: bool = True
    args: Sequence[ScriptArg] = ()

    def check_args(self, args: list[Any]) -> None:
        """Raise ValueError for arguments this script cannot use."""

    def before_generation(self, request: GenerationRequest, args: list[Any]) -> GenerationRequest:
        return request

    def before_batch(self, request: GenerationRequest, batch: int, seeds: list[int], args: list[Any]) -> None:
        """Called before each batch (A1111's ``process_batch``): batch number and its seeds."""
        return None

    def postprocess_image(self, image: Image.Image, info: ImageInfo, args: list[Any]) -> Image.Image:
        return image

    def after_generation(self, result: GenerationResult, args: list[Any]) -> None:
        return None


class AlwaysOnRegistry(TitledRegistry[AlwaysOnScript]):
    """The always-on scripts of one context, and the hook calls the engine makes."""

    kind = "always-on script"

    def check(self, enabled: Mapping[str, Sequence[Any]], kind: str) -> dict[str, list[Any]]:
        """``enabled`` with every name known and usable for ``kind``, and every script's
        arguments accepted; ValueError naming the first problem."""
        checked: dict[str, list[Any]] = {}
        for name, args in enabled.items():
            script = self.find(name)
            if not (script.txt2img if kind == "txt2img" else script.img2img):
                raise ValueError(f"always-on script {script.title} does not support {kind}")
            script.check_args(list(args))
            checked[script.title] = list(args)
        return checked

    # -- hooks the engine calls -----------------------------------------------------------------
    def _enabled(self, request: GenerationRequest) -> list[tuple[AlwaysOnScript, list[Any]]]:
        return [(self.find(name), list(args)) for name, args in request.alwayson_scripts.items()]

    def before_generation(self, request: GenerationRequest) -> GenerationRequest:
        for script, args in self._enabled(request):
            request = script.before_generation(request, args)
        return request

    def before_batch(self, request: GenerationRequest, batch: int, seeds: list[int], warnings: list[str]) -> None:
        for script, args in self._enabled(request):
            try:
                script.before_batch(request, batch, list(seeds), args)
            except Exception as exc:  # noqa: BLE001 - report the script, keep generating
                log.exception("always-on script %s failed before batch %d", script.title, batch)
                _warn(warnings, f"{script.title}: {exc or type(exc).__name__}")

    def postprocess_image(self, image: Image.Image, info: ImageInfo, warnings: list[str]) -> Image.Image:
        for script, args in self._enabled(info.request):
            try:
                image = script.postprocess_image(image, info, args)
            except Exception as exc:  # noqa: BLE001 - keep the image, report the script
                log.exception("always-on script %s failed on an image", script.title)
                _warn(warnings, f"{script.title}: {exc or type(exc).__name__}")
        return image

    def after_generation(self, result: GenerationResult) -> None:
        for script, args in self._enabled(result.request):
            try:
                script.after_generation(result, args)
            except Exception as exc:  # noqa: BLE001
                log.exception("always-on script %s failed after the generation", script.title)
                _warn(result.warnings, f"{script.title}: {exc or type(exc).__name__}")


def _warn(warnings: list[str], text: str) -> None:
    if text not in warnings:
        warnings.append(text)
