"""A1111-compatible infotext: the ``parameters`` text stored in every generated PNG.

Images made here must paste into AUTOMATIC1111 (and A1111 images must paste here), so the
layout, the key order, the quoting and the parsing quirks follow A1111 1.10:

    <prompt, possibly several lines>
    Negative prompt: <negative prompt, possibly several lines>
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, ...
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from pipelines.diffusion.fields import FIELDS, GenerationField, infotext_readers, written_params
from pipelines.diffusion.request import HIRES_DEFAULT_DENOISING, GenerationRequest, Img2ImgRequest
from pipelines.diffusion.fields import InpaintingFill
from pipelines.diffusion.samplers import (
    AUTOMATIC,
    SAME_SAMPLER,
    SAME_SCHEDULER,
    find_schedule,
    infotext_schedule,
    normalize_sampler_and_schedule,
    resolve_sampler,
    split_legacy_sampler_name,
)

# A1111's key-value pattern: a key of word characters, spaces, "-" or "/", then either a JSON
# string (escapes allowed) or anything up to the next comma.
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")
_KEY_RUN = re.compile(r"[\w \-/]+")
_FIRST_WORD_CHAR = re.compile(r"\w")
_KEY_VALUE_AT = re.compile(r'(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
NEGATIVE_PREFIX = "Negative prompt:"

# Img2ImgRequest-only fields that request_fields_from_infotext may return.
IMG2IMG_FIELDS: frozenset[str] = frozenset(spec.name for spec in FIELDS if spec.scope == "img2img")

_MASKED_CONTENT: Mapping[InpaintingFill, Optional[str]] = {
    InpaintingFill.FILL: "fill",
    InpaintingFill.ORIGINAL: None,  # A1111 writes nothing for the default
    InpaintingFill.LATENT_NOISE: "latent noise",
    InpaintingFill.LATENT_NOTHING: "latent nothing",
}

# Defaults parse_generation_parameters adds for keys an infotext leaves out.
_PARSE_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("Clip skip", "1"),
    ("Hires resize-1", "0"),
    ("Hires resize-2", "0"),
    ("Hires sampler", "Use same sampler"),
    ("Hires schedule type", "Use same scheduler"),
    ("Hires checkpoint", "Use same checkpoint"),
    ("Hires prompt", ""),
    ("Hires negative prompt", ""),
    ("Mask mode", "Inpaint masked"),
    ("Masked content", "original"),
    ("Inpaint area", "Whole picture"),
    ("Masked area padding", "32"),
)
_PARSE_DEFAULTS_LATE: tuple[tuple[str, str], ...] = (
    ("RNG", "GPU"),
    ("Schedule type", AUTOMATIC),
    ("Schedule max sigma", "0"),
    ("Schedule min sigma", "0"),
    ("Schedule rho", "0"),
    ("VAE Encoder", "Full"),
    ("VAE Decoder", "Full"),
    ("FP8 weight", "Disable"),
    ("Emphasis", "Original"),
    ("Refiner switch by sampling steps", "False"),
)

# Keys generation_params writes from the model files, never from the request.
_DERIVED_KEYS = frozenset({"Model hash", "VAE hash", "Version"})


@dataclass
class ParsedInfotext:
    """An infotext split the way A1111 splits it; ``params`` values are unquoted strings."""

    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def render_value(value: object) -> str:
    """A value as A1111 prints it; integral floats drop ".0" as the UI's values do ("CFG scale: 7")."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if hasattr(value, "value") and isinstance(value.value, (int, str)) and not isinstance(value, (int, str)):
        return str(value.value)  # enums
    return str(value)


def quote(text: str) -> str:
    """JSON-quote a value when it would otherwise break the key-value line.

    A1111 quotes on "," ":" and newlines; quotes, CR, empty values and edge whitespace are
    quoted here too so they survive a round trip (A1111 reads them back identically).
    """
    if text == "" or text != text.strip() or any(c in text for c in ',:"\n\r'):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_params_line(params: Mapping[str, object]) -> str:
    """The ``Key: value, ...`` line; None values are skipped and a value equal to its key is a flag."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        text = render_value(value)
        parts.append(key if text == key else f"{key}: {quote(text)}")
    return ", ".join(parts)


def format_infotext(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    """The full infotext in A1111's layout (no "Negative prompt:" line when it is empty)."""
    negative = f"\n{NEGATIVE_PREFIX} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{format_params_line(params)}".strip()


def generation_params(
    request: GenerationRequest,
    *,
    seed: int,
    subseed: int,
    model_name: Optional[str],
    model_hash: Optional[str],
    vae_name: Optional[str] = None,
    vae_hash: Optional[str] = None,
    version: str,
    extra: Mapping[str, object] = {},  # noqa: B006 - read only
    schema: Sequence[GenerationField] = FIELDS,
) -> dict[str, object]:
    """The infotext parameters for one image, in A1111 1.10's order and under its conditions.

    Order follows processing.create_infotext: the fixed keys, then the extra generation
    params in the order A1111 adds them (img2img/hires keys at init, then the engine's
    ``extra`` such as "Lora hashes"/"TI hashes", then the refiner, added while sampling),
    then Version. Extra keys that name a fixed key (e.g. "RNG") fill that key's slot.
    ``schema`` fields marked ``written`` (ones A1111's order does not place) follow the fixed keys.
    """
    try:
        spec, schedule = resolve_sampler(request.sampler_name, request.scheduler)
        sampler_name, schedule_type = spec.name, infotext_schedule(spec, schedule)
    except ValueError:
        sampler_name, schedule_type = request.sampler_name, request.scheduler

    strength = request.subseed_strength
    params: dict[str, object] = {
        "Steps": request.steps,
        "Sampler": sampler_name,
        "Schedule type": schedule_type,
        "CFG scale": request.cfg_scale,
        "Image CFG scale": None,
        "Seed": seed,
        "Face restoration": None,
        "Size": f"{request.width}x{request.height}",
        "Model hash": model_hash,
        "Model": model_name,
        "FP8 weight": None,
        "Cache FP16 weight for LoRA": None,
        "VAE hash": vae_hash,
        "VAE": vae_name,
        "Variation seed": None if strength == 0 else subseed,
        "Variation seed strength": None if strength == 0 else strength,
        "Seed resize from": (
            None
            if request.seed_resize_from_w <= 0 or request.seed_resize_from_h <= 0
            else f"{request.seed_resize_from_w}x{request.seed_resize_from_h}"
        ),
        "Denoising strength": None,
        "Conditional mask weight": None,
        "Clip skip": None if request.clip_skip <= 1 else request.clip_skip,
        "ENSD": None,
        "Token merging ratio": None,
        "Token merging ratio hr": None,
        "Init image hash": None,
        "RNG": None,
        "Tiling": None,
    }
    if isinstance(request, Img2ImgRequest):
        params.update(_img2img_params(request))
    elif request.enable_hr:
        params.update(_hires_params(request))
    params.update(written_params(schema, request))
    params.update(request.extra)
    params.update(extra)
    if request.refiner_checkpoint and request.refiner_checkpoint != "None" and request.refiner_switch_at:
        params["Refiner"] = request.refiner_checkpoint
        params["Refiner switch at"] = request.refiner_switch_at
    params["Version"] = version
    return params


def _img2img_params(request: Img2ImgRequest) -> dict[str, object]:
    """What StableDiffusionProcessingImg2Img.init adds, in its order."""
    params: dict[str, object] = {"Denoising strength": request.denoising_strength}
    if request.mask is None:
        return params
    if request.inpainting_mask_invert:
        params["Mask mode"] = "Inpaint not masked"
    if request.mask_blur > 0:
        params["Mask blur"] = request.mask_blur
    if request.inpaint_full_res:
        params["Inpaint area"] = "Only masked"
        params["Masked area padding"] = request.inpaint_full_res_padding
    content = _MASKED_CONTENT.get(InpaintingFill(request.inpainting_fill))
    if content is not None:
        params["Masked content"] = content
    return params


def _hires_params(request: GenerationRequest) -> dict[str, object]:
    """What StableDiffusionProcessingTxt2Img.init adds for hires fix, in its order."""
    denoise = HIRES_DEFAULT_DENOISING if request.denoising_strength is None else request.denoising_strength
    params: dict[str, object] = {
        "Denoising strength": denoise,
        # Placeholders A1111 inserts so that later values land in these positions.
        "Hires prompt": None,
        "Hires negative prompt": None,
        "Hires schedule type": None,
    }
    if request.hr_resize_x == 0 and request.hr_resize_y == 0:
        params["Hires upscale"] = request.hr_scale
    else:
        params["Hires resize"] = f"{request.hr_resize_x}x{request.hr_resize_y}"
    if request.hr_second_pass_steps:
        params["Hires steps"] = request.hr_second_pass_steps
    if request.hr_upscaler is not None:
        params["Hires upscaler"] = request.hr_upscaler
    if request.hr_sampler_name not in (None, "", SAME_SAMPLER) and request.hr_sampler_name != request.sampler_name:
        params["Hires sampler"] = request.hr_sampler_name
    if request.hr_prompt and request.hr_prompt != request.prompt:
        params["Hires prompt"] = request.hr_prompt
    if request.hr_negative_prompt and request.hr_negative_prompt != request.negative_prompt:
        params["Hires negative prompt"] = request.hr_negative_prompt
    if request.hr_scheduler not in (None, "", SAME_SCHEDULER):
        hires = find_schedule(request.hr_scheduler)
        label = hires.label if hires is not None else request.hr_scheduler
        first = find_schedule(request.scheduler)
        if first is None or label != first.label:
            params["Hires schedule type"] = label
    if request.hr_cfg is not None and request.hr_cfg != request.cfg_scale:
        params["Hires CFG Scale"] = request.hr_cfg
    return params


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def unquote(text: str) -> str:
    """Undo ``quote``; text that is not a valid JSON string is returned unchanged."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def find_params(line: str) -> list[tuple[str, str]]:
    """``RE_PARAM.findall(line)`` in linear time.

    The plain regex retries every start position and goes quadratic on long runs of key
    characters (a 100 kB line takes minutes). A key can only end where its run of key
    characters meets ":", and the leftmost match starts at the run's first word character,
    so trying just those starts gives the same pairs.
    """
    pairs: list[tuple[str, str]] = []
    pos = 0
    for run in _KEY_RUN.finditer(line):
        if run.end() >= len(line) or line[run.end()] != ":" or run.start() < pos:
            continue
        first = _FIRST_WORD_CHAR.search(line, run.start(), run.end())
        if first is None or run.end() - first.start() < 2:
            continue
        match = _KEY_VALUE_AT.match(line, first.start())
        if match is not None:
            pairs.append((match.group(1), match.group(2)))
            pos = match.end()
    return pairs


def parse_infotext(text: str, *, with_defaults: bool = True) -> ParsedInfotext:
    """Split an infotext like A1111's parse_generation_parameters; never raises.

    The last line is the parameters line only if it holds at least three key-value pairs.
    ``WxH`` values become ``Key-1``/``Key-2``. A legacy sampler name ("DPM++ 2M Karras") is
    split into Sampler and Schedule type. With ``with_defaults`` the keys A1111 fills in for
    missing entries are added too ("Clip skip": "1", "Schedule type": "Automatic", ...).
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    *lines, last = text.strip().split("\n")
    pairs = find_params(last)
    if len(pairs) < 3:
        lines.append(last)
        pairs = []

    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].strip()
        (negative_lines if in_negative else prompt_lines).append(line)

    params: dict[str, str] = {}
    for key, value in pairs:
        if not value:
            continue  # A1111 fails on an empty value and drops the key
        if value[0] == '"' and value[-1] == '"':
            value = unquote(value)
        size = RE_IMAGE_SIZE.match(value)
        if size is not None:
            params[f"{key}-1"], params[f"{key}-2"] = size.group(1), size.group(2)
        else:
            params[key] = value

    parsed = ParsedInfotext("\n".join(prompt_lines), "\n".join(negative_lines), params)
    _split_legacy_sampler(params)
    _restore_old_hires_fix(params)
    if with_defaults:
        _add_parse_defaults(parsed)
    return parsed


def _split_legacy_sampler(params: dict[str, str]) -> None:
    """"Sampler: DPM++ 2M Karras" -> Sampler "DPM++ 2M", Schedule type "Karras" (the name wins)."""
    split = split_legacy_sampler_name(params.get("Sampler", ""))
    if split is not None:
        params["Sampler"], params["Schedule type"] = split


def _old_first_pass_size(width: int, height: int) -> tuple[int, int]:
    """A1111's pre-1.0 hires fix: first pass at about 512x512 pixels, multiples of 64."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def _restore_old_hires_fix(params: dict[str, str]) -> None:
    """"First pass size: WxH" infotexts: Size was the final size, the first pass came first."""
    first_w, first_h = params.get("First pass size-1"), params.get("First pass size-2")
    if first_w is None or first_h is None:
        return
    try:
        first_w_i, first_h_i = int(first_w), int(first_h)
        width, height = int(params.get("Size-1", 512)), int(params.get("Size-2", 512))
        if first_w_i == 0 or first_h_i == 0:
            first_w_i, first_h_i = _old_first_pass_size(width, height)
    except (ValueError, ZeroDivisionError):
        return
    params["Size-1"], params["Size-2"] = str(first_w_i), str(first_h_i)
    params["Hires resize-1"], params["Hires resize-2"] = str(width), str(height)


def _add_parse_defaults(parsed: ParsedInfotext) -> None:
    params = parsed.params
    for key, value in _PARSE_DEFAULTS:
        params.setdefault(key, value)
    hypernet = params.get("Hypernet")
    if hypernet is not None:
        parsed.prompt += f"<hypernet:{hypernet}:{params.get('Hypernet strength', '1.0')}>"
    for key, value in _PARSE_DEFAULTS_LATE:
        params.setdefault(key, value)
    if "Cache FP16 weight for LoRA" not in params and params["FP8 weight"] != "Disable":
        params["Cache FP16 weight for LoRA"] = "False"


# --------------------------------------------------------------------------------------------
# Infotext -> request fields
# --------------------------------------------------------------------------------------------


def request_fields_from_infotext(text: str, schema: Sequence[GenerationField] = FIELDS) -> dict[str, object]:
    """GenerationRequest / Img2ImgRequest field values for an A1111 infotext; never raises.

    Only entries present in the text are returned (plus prompt, negative_prompt and
    enable_hr). Values that do not convert are dropped, as A1111's paste ignores them.
    "Automatic" stands for the sampler's default schedule type, as in A1111's paste. The
    checkpoint is the "Model" name, else the "Model hash". Entries no field represents go to
    ``extra`` as strings. Img2img-only fields (IMG2IMG_FIELDS) appear only when present.
    The simple entries are read as ``schema`` declares them.
    """
    parsed = parse_infotext(text, with_defaults=False)
    params = dict(parsed.params)
    fields: dict[str, object] = {"prompt": parsed.prompt, "negative_prompt": parsed.negative_prompt}
    used: set[str] = set(_DERIVED_KEYS)

    def take(table: tuple[tuple[str, str, Callable[[str], Any]], ...]) -> None:
        for key, name, convert in table:
            if key not in params:
                continue
            used.add(key)
            try:
                fields[name] = convert(params[key])
            except (ValueError, KeyError, TypeError, OverflowError):
                pass

    take(infotext_readers(schema, "both"))

    if "Sampler" in params or "Schedule type" in params:
        sampler, schedule = normalize_sampler_and_schedule(params.get("Sampler"), params.get("Schedule type"))
        if "Sampler" in params and sampler:
            fields["sampler_name"] = sampler
        fields["scheduler"] = schedule
        used.update({"Sampler", "Schedule type"})

    model = params.get("Model") or params.get("Model hash")
    if model:
        fields["checkpoint"] = model
    used.add("Model")

    enable_hr = "Denoising strength" in params and any(
        k in params for k in ("Hires upscale", "Hires upscaler", "Hires resize-1")
    )
    fields["enable_hr"] = enable_hr
    if enable_hr:
        take(infotext_readers(schema, "hires"))

    fields["extra"] = _leftover_params(params, used)
    return fields


def _leftover_params(params: Mapping[str, str], used: set[str]) -> dict[str, str]:
    """Unmapped entries, with split ``Key-1``/``Key-2`` pairs joined back into ``WxH``."""
    extra: dict[str, str] = {}
    for key, value in params.items():
        if key in used:
            continue
        if key.endswith(("-1", "-2")):
            base = key[:-2]
            first, second = params.get(f"{base}-1"), params.get(f"{base}-2")
            if first is not None and second is not None and (first + second).isdigit():
                if key.endswith("-1"):
                    extra[base] = f"{first}x{second}"
                continue
        extra[key] = value
    return extra
