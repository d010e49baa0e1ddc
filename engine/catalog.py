"""Built-in model presets and the validation of requests against them (no torch here)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from types import MappingProxyType

from engine.errors import InvalidRequest, ModelUnavailable
from engine.types import GenerateRequest, Mode, ResolvedParams

SUPPORTED_FAMILIES: tuple[str, ...] = ("sd15", "sdxl")
# Known architectures the catalog may list (an installed model, say) that the engine cannot run yet.
DECLARED_FAMILIES: tuple[str, ...] = ("flux", "sd3")
ALL_FAMILIES: tuple[str, ...] = SUPPORTED_FAMILIES + DECLARED_FAMILIES

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
)
ASPECTS: tuple[str, ...] = ("1:1", "2:3", "3:2", "16:9", "9:16")
COUNTS: tuple[int, ...] = (1, 2, 4, 8)
# File types that unpickle (and so can run code) when loaded: refused everywhere, for models and LoRAs.
PICKLE_SUFFIXES = frozenset({".ckpt", ".bin", ".pt", ".pth", ".pkl", ".pickle"})
MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_LORAS = 4
LORA_SCALE_RANGE = (-2.0, 2.0)
DEFAULT_STRENGTH = {"img2img": 0.6, "inpaint": 1.0}
ATTENTION_MODULES: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")


@dataclass(frozen=True)
class TrainingPreset:
    """Starting values for a LoRA trained on this base model."""

    rank: int
    alpha: int
    learning_rate: float
    batch_size: int
    grad_accum: int
    resolution: int
    steps_per_image: int
    target_modules: tuple[str, ...] = ATTENTION_MODULES


@dataclass(frozen=True)
class ModelPreset:
    """A base model the catalog knows, with its defaults and bounds."""

    id: str
    display_name: str
    family: str
    source: str  # hub id, local path, or "builtin:<name>"
    vram_gb: float  # fp16, one image at the default size
    quality: int  # 1-5
    speed: int  # 1-5
    default_size: tuple[int, int]
    steps: int
    guidance: float
    scheduler: str
    step_range: tuple[int, int]
    guidance_range: tuple[float, float]
    aspect_sizes: MappingProxyType[str, tuple[int, int]]
    training: TrainingPreset
    description: str
    is_test_model: bool = False
    max_side: int = 2048
    min_side: int = 64
    size_step: int = 64  # the multiple the aspect presets use; requests only need multiples of 8

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Presets are catalog data: a work order carries one by its id (a MappingProxyType does not pickle).
        return (get_preset, (self.id,))

    @property
    def max_pixels(self) -> int:
        # Four times the default area bounds memory and time while leaving room for wide formats.
        return 4 * self.default_size[0] * self.default_size[1]


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


def _sizes(pairs: dict[str, tuple[int, int]]) -> MappingProxyType[str, tuple[int, int]]:
    assert set(pairs) == set(ASPECTS)
    return MappingProxyType(dict(pairs))


_SD15_SIZES = _sizes({"1:1": (512, 512), "2:3": (512, 768), "3:2": (768, 512), "16:9": (896, 512), "9:16": (512, 896)})
_SDXL_SIZES = _sizes(
    {"1:1": (1024, 1024), "2:3": (832, 1216), "3:2": (1216, 832), "16:9": (1344, 768), "9:16": (768, 1344)}
)
_TINY_SIZES = _sizes({"1:1": (64, 64), "2:3": (64, 96), "3:2": (96, 64), "16:9": (112, 64), "9:16": (64, 112)})

_SD15_TRAINING = TrainingPreset(16, 16, 1e-4, 2, 1, 512, 80)
_SDXL_TRAINING = TrainingPreset(16, 16, 1e-4, 1, 2, 1024, 60)
_TINY_TRAINING = TrainingPreset(4, 4, 1e-3, 4, 1, 64, 2)
_TINY_NOTE = "Test model with random weights: it runs every code path offline in seconds, and its images are noise."

_PRESETS: tuple[ModelPreset, ...] = (
    ModelPreset(
        id="sd15",
        display_name="Stable Diffusion 1.5",
        family="sd15",
        source="stable-diffusion-v1-5/stable-diffusion-v1-5",
        vram_gb=4.0,
        quality=2,
        speed=4,
        default_size=(512, 512),
        steps=30,
        guidance=7.5,
        scheduler="dpmpp_2m",
        step_range=(1, 100),
        guidance_range=(0.0, 20.0),
        aspect_sizes=_SD15_SIZES,
        training=_SD15_TRAINING,
        description="The classic 512 px model: fast, light, with the largest LoRA ecosystem.",
        max_side=1024,
    ),
    ModelPreset(
        id="sdxl",
        display_name="Stable Diffusion XL 1.0",
        family="sdxl",
        source="stabilityai/stable-diffusion-xl-base-1.0",
        vram_gb=8.0,
        quality=4,
        speed=2,
        default_size=(1024, 1024),
        steps=30,
        guidance=6.0,
        scheduler="euler",
        step_range=(1, 100),
        guidance_range=(0.0, 20.0),
        aspect_sizes=_SDXL_SIZES,
        training=_SDXL_TRAINING,
        description="1024 px base model: better composition and detail, about four times slower than SD 1.5.",
    ),
    ModelPreset(
        id="sdxl-turbo",
        display_name="SDXL Turbo",
        family="sdxl",
        source="stabilityai/sdxl-turbo",
        vram_gb=8.0,
        quality=3,
        speed=5,
        default_size=(512, 512),
        steps=2,
        guidance=0.0,
        scheduler="euler_a",
        step_range=(1, 4),
        guidance_range=(0.0, 0.0),
        aspect_sizes=_SD15_SIZES,
        training=_SDXL_TRAINING,
        description="Distilled SDXL: an image in 1 to 4 steps at 512 px, without guidance.",
        max_side=1024,
    ),
    ModelPreset(
        id="tiny-sd",
        display_name="Tiny SD (test)",
        family="sd15",
        source="builtin:tiny-sd",
        vram_gb=0.1,
        quality=1,
        speed=5,
        default_size=(64, 64),
        steps=4,
        guidance=5.0,
        scheduler="ddim",
        step_range=(1, 50),
        guidance_range=(0.0, 20.0),
        aspect_sizes=_TINY_SIZES,
        training=_TINY_TRAINING,
        description=_TINY_NOTE,
        is_test_model=True,
        max_side=256,
        min_side=16,
        size_step=8,
    ),
    ModelPreset(
        id="tiny-sdxl",
        display_name="Tiny SDXL (test)",
        family="sdxl",
        source="builtin:tiny-sdxl",
        vram_gb=0.1,
        quality=1,
        speed=5,
        default_size=(64, 64),
        steps=4,
        guidance=5.0,
        scheduler="euler",
        step_range=(1, 50),
        guidance_range=(0.0, 20.0),
        aspect_sizes=_TINY_SIZES,
        training=_TINY_TRAINING,
        description=_TINY_NOTE,
        is_test_model=True,
        max_side=256,
        min_side=16,
        size_step=8,
    ),
)
_BY_ID = MappingProxyType({p.id: p for p in _PRESETS})


def all_presets() -> tuple[ModelPreset, ...]:
    return _PRESETS


def get_preset(preset_id: str) -> ModelPreset:
    try:
        return _BY_ID[preset_id]
    except KeyError:
        raise ModelUnavailable(f"Unknown model '{preset_id}'. Known models: {', '.join(_BY_ID)}.") from None


def family_preset(family: str) -> ModelPreset:
    """The preset whose defaults an installed base model of `family` reuses."""
    by_family = {"sd15": "sd15", "sdxl": "sdxl"}
    if family not in by_family:
        raise ModelUnavailable(
            f"Model family '{family}' is not supported yet. Supported families: {', '.join(SUPPORTED_FAMILIES)}."
        )
    return _BY_ID[by_family[family]]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_size(width: int, height: int, preset: ModelPreset) -> None:
    for label, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or value % 8:
            raise InvalidRequest(f"The {label} must be a whole multiple of 8 pixels (got {value}).")
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


def _resolve_mode(request: GenerateRequest) -> Mode:
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
    negative = (request.negative_prompt or "").strip()
    if len(negative) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The negative prompt is too long ({len(negative)} characters; at most {MAX_PROMPT_CHARS})."
        )

    # 2. Count and seed.
    if request.count not in COUNTS:
        raise InvalidRequest(f"Count must be one of {', '.join(map(str, COUNTS))} (got {request.count}).")
    if request.seed is None:
        seed = random.randint(0, MAX_SEED - max(COUNTS))
    elif isinstance(request.seed, bool) or not isinstance(request.seed, int) or not 0 <= request.seed <= MAX_SEED:
        raise InvalidRequest(f"The seed must be a whole number from 0 to {MAX_SEED} (got {request.seed}).")
    else:
        seed = request.seed

    # 3. Mode and strength.
    mode = _resolve_mode(request)
    strength: float | None = None
    if mode != "txt2img":
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
    steps = preset.steps if request.num_inference_steps is None else request.num_inference_steps
    lo, hi = preset.step_range
    if isinstance(steps, bool) or not isinstance(steps, int) or not lo <= steps <= hi:
        raise InvalidRequest(f"Steps must be a whole number from {lo} to {hi} for this model (got {steps}).")
    guidance = preset.guidance if request.guidance_scale is None else float(request.guidance_scale)
    glo, ghi = preset.guidance_range
    if not (math.isfinite(guidance) and glo <= guidance <= ghi):
        allowed = f"exactly {_fmt(glo)}" if glo == ghi else f"from {_fmt(glo)} to {_fmt(ghi)}"
        raise InvalidRequest(f"Guidance must be {allowed} for this model (got {_fmt(guidance)}).")
    scheduler = preset.scheduler if request.scheduler is None else request.scheduler
    if scheduler not in SCHEDULERS:
        raise InvalidRequest(f"Unknown scheduler '{scheduler}'. Choose one of: {', '.join(SCHEDULERS)}.")

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

    return ResolvedParams(
        prompt=prompt,
        negative_prompt=negative,
        model=spec.name,
        family=spec.family,
        count=request.count,
        seed=seed,
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        scheduler=scheduler,
        loras=tuple((lora.name, float(lora.scale)) for lora in request.loras),
        mode=mode,
        strength=strength,
    )
