"""The model catalog's rules: families, samplers, counts, and the validation of requests (no torch here).

The presets themselves live in `engine.presets`; they are re-exported here for the modules that ask the catalog.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from engine.errors import InvalidRequest, ModelUnavailable
from engine.families.registry import family_of
from engine.params import check_extras
from engine.presets import (
    APACHE,
    ASPECTS,
    ATTENTION_MODULES,
    FLUX_DEV_LICENCE,
    FLUX_MODULES,
    RUNNABLE_FAMILIES,
    ModelPreset,
    TrainingPreset,
    all_presets,
    family_preset,
    get_preset,
)
from engine.types import GenerateRequest, Mode, ResolvedParams

SUPPORTED_FAMILIES: tuple[str, ...] = RUNNABLE_FAMILIES

SCHEDULERS: tuple[str, ...] = (
    "ddim",
    "ddpm",
    "pndm",
    "lms",
    "euler",
    "euler_a",
    "heun",
    "dpmpp_2m",
    "dpmpp_2m_karras",
    "dpmpp_2m_sde",
    "unipc",
    "flow_match_euler",
)
# Flow-matching families (Family.flow_matching) sample with these only, and the SD samplers do not apply to them.
FLOW_SCHEDULERS: tuple[str, ...] = ("flow_match_euler",)
COUNTS: tuple[int, ...] = (1, 2, 4, 8)
# File types that unpickle (and so can run code) when loaded: refused everywhere, for models and LoRAs.
PICKLE_SUFFIXES = frozenset({".ckpt", ".bin", ".pt", ".pth", ".pkl", ".pickle"})
MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_LORAS = 4
LORA_SCALE_RANGE = (-2.0, 2.0)
DEFAULT_STRENGTH = {"img2img": 0.6, "inpaint": 1.0}
DEFAULT_COUNT = 4


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline cache needs to know about any base model, built-in or installed."""

    name: str
    family: str
    source: str
    preset: ModelPreset = field(compare=False)
    # For a single-file checkpoint: a diffusers folder or hub id whose configs describe its layout.
    config: str | None = None

    @classmethod
    def from_preset(cls, preset: ModelPreset) -> ModelSpec:
        return cls(name=preset.id, family=preset.family, source=preset.source, preset=preset)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_size(width: int, height: int, preset: ModelPreset) -> None:
    for label, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or value % preset.size_multiple:
            raise InvalidRequest(
                f"The {label} must be a whole multiple of {preset.size_multiple} pixels for this model (got {value})."
            )
        if not preset.min_side <= value <= preset.max_side:
            raise InvalidRequest(
                f"The {label} must be between {preset.min_side} and {preset.max_side} pixels for this model "
                f"(got {value})."
            )
    if width * height > preset.max_pixels:
        side = math.isqrt(preset.max_pixels)
        raise InvalidRequest(f"{width}×{height} is too big for this model: at most about {side}×{side} pixels.")


def _size_from_image(image_size: tuple[int, int], preset: ModelPreset) -> tuple[int, int]:
    """The init image's aspect ratio at the model's default area, snapped to the preset's step."""
    w, h = image_size
    area = preset.default_size[0] * preset.default_size[1]
    scale = math.sqrt(area / max(1, w * h))
    step = preset.size_step

    def snap(value: float) -> int:
        return max(preset.min_side, min(preset.max_side, max(step, round(value * scale / step) * step)))

    return snap(w), snap(h)


def _resolve_mode(request: GenerateRequest, preset: ModelPreset) -> Mode:
    if request.instruct:
        if request.init_image is None or request.mask_image is not None:
            raise InvalidRequest("An instruction edits one image: give the image, and no mask.")
        if not preset.edits_by_instruction:
            raise InvalidRequest(
                f"'{preset.id}' does not edit by instruction: pick a FLUX.1 Kontext model (flux-kontext)."
            )
        if request.strength is not None:
            raise InvalidRequest("An instruction edit takes no strength: the instruction says how much to change.")
        most, given = family_of(preset.family).max_references, 1 + len(request.references)
        if given > most:
            raise InvalidRequest(f"'{preset.id}' edits from at most {most} reference image(s) (got {given}).")
        return "instruct"
    if request.references:
        raise InvalidRequest("Extra reference images go with an instruction edit only.")
    if request.mask_image is not None and request.init_image is None:
        raise InvalidRequest("A mask needs an image to edit: give the image too.")
    if request.init_image is None:
        if request.strength is not None:
            raise InvalidRequest("Strength applies only when editing an image: give an image, or leave it out.")
        return "txt2img"
    if request.mask_image is not None:
        if tuple(request.mask_image.size) != tuple(request.init_image.size):
            raise InvalidRequest("The mask must have the same size as the image.")
        return "inpaint"
    return "img2img"


def resolve(request: GenerateRequest, spec: ModelSpec) -> ResolvedParams:
    """Fill the request's empty values from the model's defaults and check every value against its bounds."""
    preset = spec.preset
    if spec.family not in SUPPORTED_FAMILIES:
        raise ModelUnavailable(
            f"Model '{spec.name}' is of family '{spec.family}', which the engine cannot run yet. "
            f"Supported families: {', '.join(SUPPORTED_FAMILIES)}."
        )

    # 1. Text.
    prompt = (request.prompt or "").strip()
    if not prompt:
        raise InvalidRequest("The prompt is empty: describe the image you want.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"The prompt is too long ({len(prompt)} characters; at most {MAX_PROMPT_CHARS}).")
    family = family_of(spec.family)
    negative = (request.negative or "").strip()
    if negative and not family.takes_negative_prompt:
        # No classifier-free guidance to push away from a negative prompt.
        raise InvalidRequest(f"{family.label} models take no negative prompt: say what you want in the prompt instead.")
    if len(negative) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The negative prompt is too long ({len(negative)} characters; at most {MAX_PROMPT_CHARS})."
        )

    # 2. Count and seed.
    count = DEFAULT_COUNT if request.count is None else request.count
    if count not in COUNTS:
        raise InvalidRequest(f"Count must be one of {', '.join(map(str, COUNTS))} (got {count}).")
    if request.seed is None:
        seed = random.randint(0, MAX_SEED - max(COUNTS))
    elif isinstance(request.seed, bool) or not isinstance(request.seed, int) or not 0 <= request.seed <= MAX_SEED:
        raise InvalidRequest(f"The seed must be a whole number from 0 to {MAX_SEED} (got {request.seed}).")
    else:
        seed = request.seed

    # 3. Mode and strength.
    mode = _resolve_mode(request, preset)
    strength: float | None = None
    if mode in ("img2img", "inpaint"):
        strength = DEFAULT_STRENGTH[mode] if request.strength is None else float(request.strength)
        if not 0.0 < strength <= 1.0:
            raise InvalidRequest(f"Strength must be above 0 and at most 1 (got {_fmt(strength)}).")

    # 4. Size: an aspect preset, explicit dimensions, the init image's shape, or the default.
    if request.aspect is not None:
        if request.width is not None or request.height is not None:
            raise InvalidRequest("Give either an aspect ratio or a width and height, not both.")
        if request.aspect not in preset.aspect_sizes:
            raise InvalidRequest(f"Unknown aspect '{request.aspect}'. Choose one of: {', '.join(ASPECTS)}.")
        width, height = preset.aspect_sizes[request.aspect]
    else:
        if request.init_image is not None:
            default_w, default_h = _size_from_image(tuple(request.init_image.size), preset)
        else:
            default_w, default_h = preset.default_size
        width = default_w if request.width is None else request.width
        height = default_h if request.height is None else request.height
    _check_size(width, height, preset)

    # 5. Sampling.
    steps = preset.steps if request.steps is None else request.steps
    lo, hi = preset.step_range
    if isinstance(steps, bool) or not isinstance(steps, int) or not lo <= steps <= hi:
        raise InvalidRequest(f"Steps must be a whole number from {lo} to {hi} for this model (got {steps}).")
    guidance = preset.guidance if request.guidance is None else float(request.guidance)
    glo, ghi = preset.guidance_range
    if not (math.isfinite(guidance) and glo <= guidance <= ghi):
        allowed = f"exactly {_fmt(glo)}" if glo == ghi else f"from {_fmt(glo)} to {_fmt(ghi)}"
        raise InvalidRequest(f"Guidance must be {allowed} for this model (got {_fmt(guidance)}).")
    scheduler = preset.scheduler if request.scheduler is None else request.scheduler
    if scheduler not in SCHEDULERS:
        raise InvalidRequest(f"Unknown scheduler '{scheduler}'. Choose one of: {', '.join(SCHEDULERS)}.")
    if (scheduler in FLOW_SCHEDULERS) != family.flow_matching:
        fitting = FLOW_SCHEDULERS if family.flow_matching else tuple(s for s in SCHEDULERS if s not in FLOW_SCHEDULERS)
        raise InvalidRequest(
            f"The scheduler '{scheduler}' does not fit {spec.family} models: use {', '.join(fitting)}, or leave it out."
        )

    # 6. LoRAs.
    if len(request.loras) > MAX_LORAS:
        raise InvalidRequest(f"At most {MAX_LORAS} LoRAs per image (got {len(request.loras)}).")
    names = [lora.name for lora in request.loras]
    if len(set(names)) != len(names):
        raise InvalidRequest("The same LoRA is listed twice: list each LoRA once.")
    slo, shi = LORA_SCALE_RANGE
    for lora in request.loras:
        if lora.family != spec.family:
            raise InvalidRequest(
                f"LoRA '{lora.name}' was made for {lora.family} models and cannot be used with '{spec.name}' "
                f"({spec.family}). Pick a {spec.family} LoRA or another model."
            )
        if not (math.isfinite(lora.scale) and slo <= lora.scale <= shi):
            raise InvalidRequest(
                f"LoRA scale must be from {_fmt(slo)} to {_fmt(shi)} (got {_fmt(lora.scale)} for '{lora.name}')."
            )

    # img2img and inpaint run only int(steps × strength) of the steps: make sure at least one runs.
    if strength is not None and int(steps * strength) < 1:
        steps = min(max(steps, math.ceil(1 / strength)), preset.step_range[1])
        while int(steps * strength) < 1 and steps < preset.step_range[1]:
            steps += 1
        if int(steps * strength) < 1:
            raise InvalidRequest(f"Strength {_fmt(strength)} is too low to change the image; use at least 0.05.")

    # 7. The family's own settings.
    extras = check_extras(request.extras, family.extra_settings, family.label)

    # Every setting passes on by name (a new one needs no line here unless it has a default or a bound to check).
    concrete = dict(negative=negative, count=count, seed=seed, aspect=None, width=width, height=height, steps=steps)
    concrete |= dict(guidance=guidance, scheduler=scheduler, strength=strength, extras=extras)
    return ResolvedParams(
        **(request.settings() | concrete),
        prompt=prompt,
        model=spec.name,
        family=spec.family,
        loras=tuple((lora.name, float(lora.scale)) for lora in request.loras),
        mode=mode,
    )


# The catalog's interface, presets included (they live in engine.presets).
__all__ = [
    "APACHE",
    "ASPECTS",
    "ATTENTION_MODULES",
    "COUNTS",
    "DEFAULT_COUNT",
    "DEFAULT_STRENGTH",
    "FLOW_SCHEDULERS",
    "FLUX_DEV_LICENCE",
    "FLUX_MODULES",
    "LORA_SCALE_RANGE",
    "MAX_LORAS",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "PICKLE_SUFFIXES",
    "SCHEDULERS",
    "SUPPORTED_FAMILIES",
    "ModelPreset",
    "ModelSpec",
    "TrainingPreset",
    "all_presets",
    "family_preset",
    "get_preset",
    "resolve",
]
