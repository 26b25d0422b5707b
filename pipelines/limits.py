"""Resource limits: what one request may ask of the server (settings ``limit_*``).

One client must never be able to exhaust memory or hold the queue for hours: a request is
measured against these limits before it is queued (the API and the UI), and again when the
engine runs it (scripts build requests of their own). Images are measured from their headers,
before their pixels are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.diffusion.request import GenerationRequest
    from pipelines.settings import Settings

MEGA = 1_000_000


class LimitExceeded(ValueError):
    """A request asks for more than a limit allows; the message names the limit's setting."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(f"{message} (setting {setting})")
        self.setting = setting


@dataclass(frozen=True)
class Limits:
    """The limits in force; built from the settings each time they change."""

    request_body_bytes: int = 64 * 1024 * 1024
    input_images: int = 16
    input_pixels: int = int(67.2 * MEGA)
    output_pixels: int = int(8.4 * MEGA)
    prompt_chars: int = 20000
    batch_size: int = 16
    n_iter: int = 100

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Limits":
        return cls(
            request_body_bytes=int(settings.limit_request_body_mb * 1024 * 1024),
            input_images=settings.limit_input_images,
            input_pixels=int(settings.limit_input_megapixels * MEGA),
            output_pixels=int(settings.limit_output_megapixels * MEGA),
            prompt_chars=settings.limit_prompt_chars,
            batch_size=settings.limit_batch_size,
            n_iter=settings.limit_n_iter,
        )

    def check_text(self, name: str, text: Any) -> None:
        """A prompt-like field: at most ``prompt_chars`` characters."""
        if isinstance(text, str) and len(text) > self.prompt_chars:
            raise LimitExceeded(f"{name}: {len(text)} characters is more than the limit of {self.prompt_chars}",
                                "limit_prompt_chars")

    def check_generation(self, req: "GenerationRequest") -> None:
        """Prompt lengths, batch size, batch count, output pixels (hires size included) and the
        input images' count and pixels."""
        self.check_text("prompt", req.prompt)
        self.check_text("negative_prompt", req.negative_prompt)
        if req.batch_size > self.batch_size:
            raise LimitExceeded(f"batch_size {req.batch_size} is more than the limit of {self.batch_size}",
                                "limit_batch_size")
        if req.n_iter > self.n_iter:
            raise LimitExceeded(f"n_iter {req.n_iter} is more than the limit of {self.n_iter}", "limit_n_iter")
        self.check_output(*req.final_size(), req.batch_size)
        images = [*getattr(req, "init_images", ()), *([req.mask] if getattr(req, "mask", None) is not None else [])]
        if images:  # the UI's uploads arrive decoded: their sizes are still limited
            budget = self.input_budget()
            budget.expect("init_images", len(images))
            for index, image in enumerate(images):
                budget.admit(f"image {index + 1}", *image.size)

    def check_output(self, width: int, height: int, count: int = 1) -> None:
        """``count`` images of ``width`` × ``height`` made at once."""
        pixels = width * height * count
        if pixels > self.output_pixels:
            what = f"{width}x{height}" + (f" x batch of {count}" if count > 1 else "")
            raise LimitExceeded(f"{what} is {pixels / MEGA:.1f} megapixels, more than the limit of "
                                f"{self.output_pixels / MEGA:g}", "limit_output_megapixels")

    def input_budget(self) -> "InputBudget":
        return InputBudget(self)


class InputBudget:
    """Counts the images of one request and their pixels as each header is read."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.images, self.pixels = limits, 0, 0

    def expect(self, field: str, count: int) -> None:
        """Refuse a request that sends more than ``input_images`` images, before decoding any."""
        if count > self.limits.input_images:
            raise LimitExceeded(f"{field}: {count} images is more than the limit of {self.limits.input_images} "
                                "in one request", "limit_input_images")

    def admit(self, field: str, width: int, height: int) -> None:
        """Account for one more image of ``width`` × ``height``; refuse it if over a limit."""
        self.images += 1
        self.pixels += width * height
        if self.images > self.limits.input_images:
            raise LimitExceeded(f"{field}: more than {self.limits.input_images} images in one request",
                                "limit_input_images")
        if self.pixels > self.limits.input_pixels:
            raise LimitExceeded(f"{field}: {width}x{height} brings this request's images to "
                                f"{self.pixels / MEGA:.1f} megapixels, more than the limit of "
                                f"{self.limits.input_pixels / MEGA:g}", "limit_input_megapixels")
