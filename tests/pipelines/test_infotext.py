"""A1111 infotext writing, parsing and the request round trip."""

from __future__ import annotations

import random
import string

import pytest
from PIL import Image

from pipelines.diffusion.infotext import (
    IMG2IMG_FIELDS,
    format_infotext,
    generation_params,
    parse_infotext,
    quote,
    request_fields_from_infotext,
)
from pipelines.diffusion.request import GenerationRequest, Img2ImgRequest, Txt2ImgRequest
from pipelines.diffusion.fields import InpaintingFill
from pipelines.diffusion.samplers import effective_schedule, resolve_sampler

# Real infotexts from A1111 users (GitHub issues, READMEs, test fixtures), A1111 1.9-1.10.
REAL_LCM = (
    "1girl,A superstar on stage.,, <lora:LCM_15:1>, <lora:ip-adapter-faceid-plusv2_sd15_lora:1>\n"
    "Negative prompt: MajicNegative_V2,badhandv4,\n"
    "Steps: 6, Sampler: LCM, Schedule type: Automatic, CFG scale: 1.5, Seed: 3748719078, Size: 768x1024, "
    "Model hash: 19bbe9faa4, Model: fantasticmix_k2, VAE hash: 07af11b95c, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Clip skip: 2, "
    'Lora hashes: "LCM_15: aaebf6360f7d, ip-adapter-faceid-plusv2_sd15_lora: a95a0f4bdcb9", '
    'TI hashes: "MajicNegative_V2: a53884ef726b, badhandv4: 5e40d722fc3d", Downcast alphas_cumprod: True, '
    "Version: v1.9.4"
)
REAL_INPAINT = (
    "professional product photoshoot of perfume bottle in sand with beach elements, studio lighting, warm weather\n"
    "Negative prompt: incomplete figures\n"
    "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 3001968073, Size: 985x1266, "
    "Model hash: b513c6287d, Model: realism_engine, Denoising strength: 0.75, Mask blur: 2, Version: v1.9.4"
)
REAL_INPAINT_FILL = (
    "product shoot in sand with beach elements, warm weather, studio lighting\n"
    "Negative prompt: incomplete elements\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 8, Seed: 1659960289, Size: 985x1266, "
    "Model hash: b513c6287d, Model: realism_engine, Denoising strength: 0.91, Masked content: fill, Version: v1.9.4"
)
REAL_SDXL = (
    "cat portrait, \n"
    "Negative prompt: \n"
    "Steps: 13, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 4, Seed: 2535254266, "
    "Face restoration: CodeFormer, Size: 1216x832, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, "
    "FP8 weight: Enable for SDXL, Cache FP16 weight for LoRA: True, Version: v1.10.1"
)
REAL_REFINER = (
    "a cat\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 1216x832, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, RNG: NV, Refiner: sd_xl_refiner_1.0 [7440042bbd], "
    "Refiner switch at: 0.7, Version: v1.10.1"
)
REAL_OLD = (  # the example in A1111's own parse_generation_parameters docstring
    "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, "
    "by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate\n"
    "Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, poorly drawn "
    "face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b"
)
REAL_PONY = (
    "score_9, score_8_up, 1girl, <lora:zy_Realism_Enhancer_v2:0.6>\n"
    "Negative prompt: score_5, score_4, 3d, (angular face:1.3), (hands:1.2)\n"
    "Steps: 30, Sampler: DPM++ 3M SDE, Schedule type: Karras, CFG scale: 5, Seed: 2480865251, Size: 1152x896, "
    "Model hash: c379d154eb, Model: albedobaseXL_v31Large-mid_140737-vid_1041855, "
    'Lora hashes: "zy_Realism_Enhancer_v2: b46384abcc66, Wisps_of_Light_Pony: 95011c7288d0", '
    "dynthres_enabled: True, dynthres_mimic_scale: 7, Version: v1.10.1"
)
HIRES = (
    "masterpiece, 1girl, (detailed eyes:1.2)\n"
    "multi-line prompt part\n"
    "Negative prompt: lowres, bad anatomy\n"
    "second negative line\n"
    "Steps: 25, Sampler: DPM++ 2M SDE Karras, CFG scale: 7.5, Seed: 123, Size: 512x768, Model hash: 7f96a1a9ca, "
    "Model: anything-v5, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 1.75, Hires steps: 12, "
    "Hires upscaler: R-ESRGAN 4x+ Anime6B, Version: v1.6.0"
)
HIRES_RESIZE = (
    "a house\n"
    "Steps: 20, Sampler: Euler, Schedule type: Automatic, CFG scale: 7, Seed: 5, Size: 512x512, "
    "Denoising strength: 0.6, Hires resize: 1024x1536, Hires upscaler: Latent, Version: v1.10.1"
)
OLD_FIRST_PASS = "a\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 1024x1024, Denoising strength: 0.7, First pass size: 0x0"


def test_parse_real_lcm_infotext() -> None:
    parsed = parse_infotext(REAL_LCM)
    assert parsed.prompt.startswith("1girl,A superstar on stage.,, <lora:LCM_15:1>")
    assert parsed.negative_prompt == "MajicNegative_V2,badhandv4,"
    p = parsed.params
    assert (p["Steps"], p["Sampler"], p["Schedule type"], p["CFG scale"]) == ("6", "LCM", "Automatic", "1.5")
    assert (p["Size-1"], p["Size-2"]) == ("768", "1024")
    assert p["Lora hashes"] == "LCM_15: aaebf6360f7d, ip-adapter-faceid-plusv2_sd15_lora: a95a0f4bdcb9"
    assert p["TI hashes"] == "MajicNegative_V2: a53884ef726b, badhandv4: 5e40d722fc3d"
    assert p["Version"] == "v1.9.4" and p["Clip skip"] == "2"
    # defaults A1111 adds
    assert p["RNG"] == "GPU" and p["Hires resize-1"] == "0" and p["Masked content"] == "original"

    fields = request_fields_from_infotext(REAL_LCM)
    assert fields["steps"] == 6 and fields["cfg_scale"] == 1.5 and fields["seed"] == 3748719078
    assert fields["checkpoint"] == "fantasticmix_k2" and fields["vae"] == "vae-ft-mse-840000-ema-pruned.safetensors"
    assert fields["clip_skip"] == 2 and fields["enable_hr"] is False
    assert fields["extra"] == {
        "Lora hashes": "LCM_15: aaebf6360f7d, ip-adapter-faceid-plusv2_sd15_lora: a95a0f4bdcb9",
        "TI hashes": "MajicNegative_V2: a53884ef726b, badhandv4: 5e40d722fc3d",
        "Downcast alphas_cumprod": "True",
    }
    GenerationRequest(**fields)


def test_parse_old_infotext_adds_a1111_defaults() -> None:
    p = parse_infotext(REAL_OLD).params
    assert p["Clip skip"] == "1" and p["Schedule type"] == "Automatic" and p["Model hash"] == "45dee52b"
    fields = request_fields_from_infotext(REAL_OLD)
    assert fields["checkpoint"] == "45dee52b" and fields["sampler_name"] == "Euler a"
    assert "clip_skip" not in fields  # not in the text; A1111's default "1" is the request default
    assert parse_infotext(REAL_OLD).negative_prompt.startswith("ugly, fat, obese")


def test_legacy_sampler_name_is_split() -> None:
    p = parse_infotext(HIRES).params
    assert (p["Sampler"], p["Schedule type"]) == ("DPM++ 2M SDE", "Karras")
    fields = request_fields_from_infotext(HIRES)
    assert (fields["sampler_name"], fields["scheduler"]) == ("DPM++ 2M SDE", "Karras")  # not its default
    fields = request_fields_from_infotext(HIRES.replace("DPM++ 2M SDE Karras", "DPM++ 2M Karras"))
    assert (fields["sampler_name"], fields["scheduler"]) == ("DPM++ 2M", "Automatic")  # Karras is its default


def test_hires_fields() -> None:
    parsed = parse_infotext(HIRES)
    assert parsed.prompt == "masterpiece, 1girl, (detailed eyes:1.2)\nmulti-line prompt part"
    assert parsed.negative_prompt == "lowres, bad anatomy\nsecond negative line"
    fields = request_fields_from_infotext(HIRES)
    assert fields["enable_hr"] is True
    assert (fields["hr_scale"], fields["hr_second_pass_steps"], fields["hr_upscaler"]) == (1.75, 12, "R-ESRGAN 4x+ Anime6B")
    assert fields["denoising_strength"] == 0.45 and fields["cfg_scale"] == 7.5
    assert (fields["width"], fields["height"]) == (512, 768)
    GenerationRequest(**fields)

    fields = request_fields_from_infotext(HIRES_RESIZE)
    assert fields["enable_hr"] is True and (fields["hr_resize_x"], fields["hr_resize_y"]) == (1024, 1536)
    assert fields["scheduler"] == "Automatic" and fields["sampler_name"] == "Euler"


def test_old_first_pass_size() -> None:
    p = parse_infotext(OLD_FIRST_PASS, with_defaults=False).params
    assert (p["Size-1"], p["Size-2"], p["Hires resize-1"], p["Hires resize-2"]) == ("512", "512", "1024", "1024")
    fields = request_fields_from_infotext(OLD_FIRST_PASS)
    assert fields["enable_hr"] is True and fields["width"] == 512 and fields["hr_resize_x"] == 1024


def test_inpaint_and_refiner_infotexts() -> None:
    fields = request_fields_from_infotext(REAL_INPAINT)
    assert fields["mask_blur"] == 2 and fields["denoising_strength"] == 0.75 and fields["enable_hr"] is False
    assert request_fields_from_infotext(REAL_INPAINT_FILL)["inpainting_fill"] == 0
    fields = request_fields_from_infotext(REAL_REFINER)
    assert fields["refiner_checkpoint"] == "sd_xl_refiner_1.0 [7440042bbd]" and fields["refiner_switch_at"] == 0.7
    assert fields["extra"] == {"RNG": "NV"}
    fields = request_fields_from_infotext(REAL_SDXL)
    assert fields["prompt"] == "cat portrait," and fields["negative_prompt"] == ""
    assert fields["extra"]["Face restoration"] == "CodeFormer"
    assert fields["extra"]["FP8 weight"] == "Enable for SDXL"
    fields = request_fields_from_infotext(REAL_PONY)
    assert fields["extra"]["dynthres_mimic_scale"] == "7" and fields["sampler_name"] == "DPM++ 3M SDE"
    assert fields["scheduler"] == "Karras"


def test_format_matches_a1111_layout_and_order() -> None:
    request = Txt2ImgRequest(prompt="a cat, sitting", negative_prompt="blurry", seed=42)
    params = generation_params(request, seed=42, subseed=7, model_name="v1-5", model_hash="6ce0161689",
                               version="v1.10.1")
    assert format_infotext(request.prompt, request.negative_prompt, params) == (
        "a cat, sitting\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512, "
        "Model hash: 6ce0161689, Model: v1-5, Version: v1.10.1"
    )
    assert format_infotext("a", "", {"Steps": 1, "Sampler": "Euler", "CFG scale": 7.5}) == (
        "a\nSteps: 1, Sampler: Euler, CFG scale: 7.5"
    )


def test_full_key_order() -> None:
    request = Txt2ImgRequest(
        prompt="p", sampler_name="Euler a", scheduler="Automatic", cfg_scale=6.5, width=512, height=768,
        subseed_strength=0.3, seed_resize_from_w=256, seed_resize_from_h=256, clip_skip=2,
        enable_hr=True, denoising_strength=0.55, hr_scale=2.0, hr_second_pass_steps=10, hr_upscaler="4x-UltraSharp",
        refiner_checkpoint="refiner [abc]", refiner_switch_at=0.8, extra={"Script": "X/Y/Z plot"},
    )
    params = generation_params(
        request, seed=1, subseed=2, model_name="m", model_hash="h", vae_name="vae.pt", vae_hash="vh",
        version="v1.10.1", extra={"Lora hashes": "a: 1, b: 2", "RNG": "CPU", "TI hashes": "t: 3"},
    )
    line = format_infotext("p", "", params).split("\n")[-1]
    assert line == (
        "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 1, Size: 512x768, "
        "Model hash: h, Model: m, VAE hash: vh, VAE: vae.pt, Variation seed: 2, Variation seed strength: 0.3, "
        "Seed resize from: 256x256, Denoising strength: 0.55, Clip skip: 2, RNG: CPU, Hires upscale: 2, "
        'Hires steps: 10, Hires upscaler: 4x-UltraSharp, Script: X/Y/Z plot, Lora hashes: "a: 1, b: 2", '
        "TI hashes: \"t: 3\", Refiner: refiner [abc], Refiner switch at: 0.8, Version: v1.10.1"
    )


def test_img2img_key_order_matches_a1111() -> None:
    image = Image.new("RGB", (8, 8))
    request = Img2ImgRequest(prompt="x", sampler_name="Euler a", init_images=[image], mask=image, mask_blur=2,
                             inpainting_fill=InpaintingFill.FILL, inpaint_full_res=True, inpainting_mask_invert=1)
    params = generation_params(request, seed=3, subseed=0, model_name="realism_engine", model_hash="b513c6287d",
                               version="v1.9.4")
    assert format_infotext("x", "", params).split("\n")[-1] == (
        "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 3, Size: 512x512, "
        "Model hash: b513c6287d, Model: realism_engine, Denoising strength: 0.75, Mask mode: Inpaint not masked, "
        "Mask blur: 2, Inpaint area: Only masked, Masked area padding: 32, Masked content: fill, Version: v1.9.4"
    )
    plain = Img2ImgRequest(prompt="x", init_images=[image], denoising_strength=0.5)
    params = generation_params(plain, seed=3, subseed=0, model_name=None, model_hash=None, version="v")
    assert "Mask blur" not in params and params["Denoising strength"] == 0.5


def test_conditional_entries_are_omitted() -> None:
    params = generation_params(Txt2ImgRequest(), seed=1, subseed=2, model_name=None, model_hash=None, version="v")
    text = format_infotext("", "", params)
    for key in ("Variation seed", "Clip skip", "Denoising strength", "Seed resize from", "Hires", "Model", "Refiner"):
        assert key not in text
    assert text == "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, Version: v"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a, b", '"a, b"'),
        ("k: v", '"k: v"'),
        ("two\nlines", '"two\\nlines"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("ünïcødé", "ünïcødé"),
        ("", '""'),
    ],
)
def test_quote(value: str, expected: str) -> None:
    assert quote(value) == expected


PROMPTS = [
    ("", ""),
    ("a photo of a cat", ""),
    ("a photo, of a cat", "blurry, lowres"),
    ("(masterpiece:1.2), <lora:add_detail:0.5>, [from:to:0.5], {a|b}", "(worst quality:1.4), EasyNegative"),
    ('she said "hello", then: left', 'bad "hands"'),
    ("line one\nline two\nSteps: 5, Sampler: x, CFG scale: 3", "neg one\nneg two"),
    ("日本語のプロンプト, 猫, ✨ émoji 🐱", "低品質"),
    ("AND composition AND other:0.5", ""),
    ("BREAK\nBREAK", "BREAK"),
    ("a: b, c: d, e: f", ""),
]


def _roundtrip(request: GenerationRequest, **kwargs: object) -> dict[str, object]:
    defaults = dict(seed=1234, subseed=99, model_name="model, v1: final", model_hash="abcdef1234", version="v1.10.1")
    defaults.update(kwargs)
    params = generation_params(request, **defaults)  # type: ignore[arg-type]
    text = format_infotext(request.prompt, request.negative_prompt, params)
    return request_fields_from_infotext(text)


def _assert_same(request: GenerationRequest, fields: dict[str, object]) -> None:
    spec, schedule = resolve_sampler(request.sampler_name, request.scheduler)
    back_spec, back_schedule = resolve_sampler(fields["sampler_name"], fields["scheduler"])  # type: ignore[arg-type]
    assert back_spec.name == spec.name
    assert effective_schedule(back_spec, back_schedule) == effective_schedule(spec, schedule)
    for name in ("prompt", "negative_prompt", "steps", "cfg_scale", "width", "height", "clip_skip"):
        assert fields.get(name, getattr(GenerationRequest(), name)) == getattr(request, name), name
    assert fields["seed"] == 1234
    if request.subseed_strength:
        assert (fields["subseed"], fields["subseed_strength"]) == (99, request.subseed_strength)
    if request.seed_resize_from_w > 0 and request.seed_resize_from_h > 0:
        assert (fields["seed_resize_from_w"], fields["seed_resize_from_h"]) == (
            request.seed_resize_from_w, request.seed_resize_from_h)
    assert fields["enable_hr"] == request.enable_hr
    if request.enable_hr:
        assert fields["denoising_strength"] == request.denoising_strength
        if request.hr_resize_x or request.hr_resize_y:
            assert (fields["hr_resize_x"], fields["hr_resize_y"]) == (request.hr_resize_x, request.hr_resize_y)
        else:
            assert fields["hr_scale"] == request.hr_scale
        assert fields.get("hr_second_pass_steps", 0) == request.hr_second_pass_steps
        assert fields["hr_upscaler"] == request.hr_upscaler
    if request.refiner_checkpoint:
        assert (fields["refiner_checkpoint"], fields["refiner_switch_at"]) == (
            request.refiner_checkpoint, request.refiner_switch_at)
    assert fields["checkpoint"] == "model, v1: final"
    assert fields["extra"] == {k: str(v) for k, v in request.extra.items()}


@pytest.mark.parametrize(("prompt", "negative"), PROMPTS)
def test_roundtrip_prompts(prompt: str, negative: str) -> None:
    request = Txt2ImgRequest(prompt=prompt, negative_prompt=negative)
    fields = _roundtrip(request)
    _assert_same(request, fields)
    Txt2ImgRequest(**fields)


def _random_request(rng: random.Random) -> GenerationRequest:
    spec_names = ["DPM++ 2M", "Euler a", "Euler", "DPM++ SDE", "DPM++ 2M SDE", "DDIM", "UniPC", "LMS", "Heun",
                  "DPM++ 2M Karras", "DPM2 a", "LCM", "PLMS", "DPM++ 3M SDE Exponential"]
    sampler = rng.choice(spec_names)
    spec, _ = resolve_sampler(sampler, None)
    schedule = rng.choice(["Automatic", *sorted(spec.schedules)])
    prompt, negative = rng.choice(PROMPTS)
    hires = rng.random() < 0.5
    resize = hires and rng.random() < 0.5
    extra_keys = ["Lora hashes", "Emphasis", "ADetailer model", "Script"]
    extra_values = ["a: 1, b: 2", "Original", 'x "y"', "3x4", "plain", "ünï: cødé"]
    return Txt2ImgRequest(
        prompt=prompt,
        negative_prompt=negative,
        sampler_name=sampler,
        scheduler=schedule,
        steps=rng.randint(1, 150),
        cfg_scale=rng.choice([1.0, 3.5, 7.0, 7.25, 12.0, 0.1 + 0.2]),
        width=rng.randrange(64, 2048, 8),
        height=rng.randrange(64, 2048, 8),
        subseed_strength=rng.choice([0.0, 0.15, 1.0]),
        seed_resize_from_w=rng.choice([-1, 0, 256]),
        seed_resize_from_h=rng.choice([-1, 320]),
        clip_skip=rng.randint(1, 4),
        enable_hr=hires,
        denoising_strength=rng.choice([0.0, 0.35, 0.7, 1.0]) if hires else None,
        hr_scale=rng.choice([1.0, 1.5, 2.0, 2.25]),
        hr_second_pass_steps=rng.choice([0, 10]),
        hr_resize_x=rng.choice([0, 1024]) if resize else 0,
        hr_resize_y=rng.choice([0, 1536]) if resize else 0,
        hr_upscaler=rng.choice(["Latent", "R-ESRGAN 4x+", "Latent (nearest-exact)", "4x_foolhardy_Remacri"]),
        refiner_checkpoint=rng.choice([None, "sdxl_refiner [7440042bbd]"]),
        refiner_switch_at=0.8,
        extra={k: rng.choice(extra_values) for k in rng.sample(extra_keys, rng.randint(0, 3))},
    )


def test_roundtrip_random_requests() -> None:
    rng = random.Random(20240601)
    for _ in range(300):
        request = _random_request(rng)
        fields = _roundtrip(request)
        _assert_same(request, fields)
        Txt2ImgRequest(**fields)


def test_roundtrip_img2img() -> None:
    image = Image.new("RGB", (8, 8))
    for fill in InpaintingFill:
        request = Img2ImgRequest(prompt="x, y", init_images=[image], mask=image, denoising_strength=0.42,
                                 mask_blur=7, inpainting_fill=fill, inpaint_full_res=True,
                                 inpaint_full_res_padding=48, inpainting_mask_invert=1, sampler_name="Euler")
        fields = _roundtrip(request)
        for name in ("denoising_strength", "mask_blur", "inpaint_full_res", "inpaint_full_res_padding",
                     "inpainting_mask_invert"):
            assert fields[name] == getattr(request, name), name
        assert fields.get("inpainting_fill", InpaintingFill.ORIGINAL) == fill
        assert fields["enable_hr"] is False
        assert IMG2IMG_FIELDS <= set(fields) | {"inpainting_fill"}
        Img2ImgRequest(init_images=[image], **fields)


MALFORMED = [
    "",
    None,
    "\n\n\n",
    "Negative prompt:",
    "Steps: , Sampler: , CFG scale: ",
    "Steps: x, Sampler: nope, CFG scale: y, Seed: z, Size: 0x0, Size: axb, Clip skip: 1.5",
    'Steps: 1, Sampler: Euler, Lora hashes: "unterminated, CFG scale: 7',
    'Steps: 1, Sampler: Euler, Bad: "\\x", Seed: 99999999999999999999999',
    "Steps: 1e400, Sampler: Euler, CFG scale: nan, Denoising strength: inf, Hires upscale: 2",
    "Steps: 20, Sampler: Euler, First pass size: 0x0, Size: 0x0, Denoising strength: 0.5",
    "Steps: 20, Sampler: Euler, Masked content: teleport, Mask blur: -, Inpaint area: ?",
    "x" * 100_000,
    ":" * 1000 + "," * 1000,
    "\x00\x01\x02 binary\r\n\tjunk",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_never_raises(text: object) -> None:
    parse_infotext(text)  # type: ignore[arg-type]
    parse_infotext(text, with_defaults=False)  # type: ignore[arg-type]
    fields = request_fields_from_infotext(text)  # type: ignore[arg-type]
    assert isinstance(fields["extra"], dict)


def test_fuzz_never_raises() -> None:
    rng = random.Random(7)
    alphabet = string.printable + 'ü猫"\\:,x0123456789\n'
    pieces = ["Steps: ", "Sampler: ", "Size: ", "x", '"', ", ", "Negative prompt: ", "\n", "Hires resize: ", "First pass size: "]
    for _ in range(500):
        text = "".join(rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        request_fields_from_infotext(text)
        parse_infotext(text)


def test_find_params_matches_a1111_regex() -> None:
    from pipelines.diffusion.infotext import RE_PARAM, find_params

    rng = random.Random(3)
    alphabet = ["a", "Z", "_", "1", " ", "-", "/", ":", ",", '"', "\\", "\t", "ü", ".", "x"]
    for _ in range(5000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert find_params(line) == RE_PARAM.findall(line), line
