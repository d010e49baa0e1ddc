"""The built-in base models: their defaults, bounds, sizes, licences and training starting points (data only)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

from engine.errors import ModelUnavailable
from engine.tiny.world.prompts import WORLD_SAMPLES, scene_prompts

ASPECTS: tuple[str, ...] = ("1:1", "2:3", "3:2", "16:9", "9:16")
ATTENTION_MODULES: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")
# The families the engine runs (the catalog re-exports this with the declared-only ones).
RUNNABLE_FAMILIES: tuple[str, ...] = ("sd15", "sdxl", "flux", "flux2", "zimage", "qwen")
# Checkpoint samples of a character LoRA on a real model (the same for every run, so runs compare).
PORTRAIT_SAMPLES: tuple[str, ...] = (
    "{trigger}, portrait photo, looking at the camera",
    "{trigger}, full body, standing",
    "{trigger}, walking in a city street at night",
)


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
    # Drawn at each checkpoint with fixed seeds, "{trigger}" replaced by the run's trigger word: prompts the
    # model can draw, so that checkpoints and runs on it compare.
    sample_prompts: tuple[str, ...] = PORTRAIT_SAMPLES
    # Prior preservation (kohya's "reg images", DreamBooth's class images): images the base model draws before
    # the run, trained beside the set with weight `prior_weight` so the LoRA keeps what the model knew. From
    # `prior_prompts`, or when empty from the set's captions without the trigger word. 0: off.
    prior_images: int = 0
    prior_weight: float = 1.0
    prior_prompts: tuple[str, ...] = ()


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
    size_step: int = 64  # the multiple the aspect presets use; requests only need multiples of `size_multiple`
    size_multiple: int = 8  # FLUX packs 2×2 latent patches: its sides must be multiples of 16
    licence: str = ""  # shown in /models; "" for the test models
    max_sequence_length: int | None = None  # FLUX's T5 prompt length (it sets the text tokens, and the cost)
    edits_by_instruction: bool = False  # FLUX.1 Kontext: /vary and character sheets follow an instruction

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Presets are catalog data: a work order carries one by its id (a MappingProxyType does not pickle).
        return (get_preset, (self.id,))

    @property
    def max_pixels(self) -> int:
        # Four times the default area bounds memory and time while leaving room for wide formats.
        return 4 * self.default_size[0] * self.default_size[1]


def _sizes(pairs: dict[str, tuple[int, int]]) -> MappingProxyType[str, tuple[int, int]]:
    assert set(pairs) == set(ASPECTS)
    return MappingProxyType(dict(pairs))


_SD15_SIZES = _sizes({"1:1": (512, 512), "2:3": (512, 768), "3:2": (768, 512), "16:9": (896, 512), "9:16": (512, 896)})
_SDXL_SIZES = _sizes(
    {"1:1": (1024, 1024), "2:3": (832, 1216), "3:2": (1216, 832), "16:9": (1344, 768), "9:16": (768, 1344)}
)
_FLUX_SIZES = _sizes(
    {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "16:9": (1344, 768), "9:16": (768, 1344)}
)
_TINY_SIZES = _sizes({"1:1": (64, 64), "2:3": (64, 96), "3:2": (96, 64), "16:9": (112, 64), "9:16": (64, 112)})

_SD15_TRAINING = TrainingPreset(16, 16, 1e-4, 2, 1, 512, 80)
_SDXL_TRAINING = TrainingPreset(16, 16, 1e-4, 1, 2, 1024, 60)
_TINY_TRAINING = TrainingPreset(4, 4, 1e-3, 4, 1, 64, 2)
# FLUX transformer blocks: attention (joint and single) and feed-forward, as the reference LoRA scripts target.
FLUX_MODULES: tuple[str, ...] = (
    "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj",
    "attn.add_v_proj", "attn.to_add_out", "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2",
)  # fmt: skip
_FLUX_TRAINING = TrainingPreset(16, 16, 1e-4, 1, 4, 1024, 60, target_modules=FLUX_MODULES)
_TINY_FLUX_TRAINING = TrainingPreset(4, 4, 1e-3, 4, 1, 64, 2, target_modules=FLUX_MODULES)
# Black Forest Labs' licences: schnell is open, dev and Kontext dev allow no commercial use of the model itself.
APACHE = "Apache-2.0"
FLUX_DEV_LICENCE = "FLUX.1 [dev] Non-Commercial License"
_TINY_NOTE = "Test model with random weights: it runs every code path offline in seconds, and its images are noise."

_SD15 = ModelPreset(
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
)
_SDXL = replace(
    _SD15,
    id="sdxl",
    display_name="Stable Diffusion XL 1.0",
    family="sdxl",
    source="stabilityai/stable-diffusion-xl-base-1.0",
    vram_gb=8.0,
    quality=4,
    speed=2,
    default_size=(1024, 1024),
    guidance=6.0,
    scheduler="euler",
    aspect_sizes=_SDXL_SIZES,
    training=_SDXL_TRAINING,
    description="1024 px base model: better composition and detail, about four times slower than SD 1.5.",
    max_side=2048,
)
_SDXL_TURBO = replace(
    _SDXL,
    id="sdxl-turbo",
    display_name="SDXL Turbo",
    source="stabilityai/sdxl-turbo",
    quality=3,
    speed=5,
    default_size=(512, 512),
    steps=2,
    guidance=0.0,
    scheduler="euler_a",
    step_range=(1, 4),
    guidance_range=(0.0, 0.0),
    aspect_sizes=_SD15_SIZES,
    description="Distilled SDXL: an image in 1 to 4 steps at 512 px, without guidance.",
    max_side=1024,
)
_FLUX_DEV = replace(
    _SDXL,
    id="flux-dev",
    display_name="FLUX.1 [dev]",
    family="flux",
    source="black-forest-labs/FLUX.1-dev",
    # 31.4 GiB of bf16 weights (12 B transformer, T5-XXL, CLIP, VAE); see engine/families/flux/memory_plan.py
    vram_gb=34.0,
    quality=5,
    speed=1,
    steps=28,
    guidance=3.5,
    scheduler="flow_match_euler",
    guidance_range=(0.0, 10.0),
    aspect_sizes=_FLUX_SIZES,
    training=_FLUX_TRAINING,
    description="The 12 B FLUX.1 model LoRAs are trained on: the best prompt following and detail here.",
    size_step=16,
    size_multiple=16,
    licence=FLUX_DEV_LICENCE,
    max_sequence_length=512,
)
_FLUX_SCHNELL = replace(
    _FLUX_DEV,
    id="flux-schnell",
    display_name="FLUX.1 [schnell]",
    source="black-forest-labs/FLUX.1-schnell",
    quality=4,
    speed=4,
    steps=4,
    guidance=0.0,
    step_range=(1, 8),
    guidance_range=(0.0, 0.0),
    description="Distilled FLUX.1: 1024 px in 4 steps without guidance; prompts up to 256 tokens.",
    licence=APACHE,
    max_sequence_length=256,
)
_FLUX_KONTEXT = replace(
    _FLUX_DEV,
    id="flux-kontext",
    display_name="FLUX.1 Kontext [dev]",
    source="black-forest-labs/FLUX.1-Kontext-dev",
    vram_gb=36.0,  # as dev, plus the context image's tokens
    guidance=2.5,
    description="Edits an image by instruction and keeps who is in it: /vary, /edit and character sheets.",
    edits_by_instruction=True,
)
_TINY_SD = ModelPreset(
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
)
# Trained on a toy world (engine/tiny/world): 32 px is the size it learnt; larger sizes run but drift.
_TINY_WORLD = replace(
    _TINY_SD,
    id="tiny-world",
    display_name="Tiny World (toy shapes)",
    source="builtin:tiny-world",
    default_size=(32, 32),
    steps=20,  # as faithful as 30 steps, and guidance 3 as 5 or better (BENCHMARKS.md, "Model quality")
    guidance=3.0,
    aspect_sizes=_sizes({"1:1": (32, 32), "2:3": (32, 48), "3:2": (48, 32), "16:9": (56, 32), "9:16": (32, 56)}),
    # LoRAs train at its native 32 px, rank 8, lr 1e-3, batch 4: 200 steps for 20 images (40 views of each),
    # which taught it a new concept better than 100 or 400 (BENCHMARKS.md, "Model quality"). The tiny model is
    # fragile (a LoRA wrecks prompts without the trigger): prior preservation on the world's own scene prompts
    # keeps them, as measured in BENCHMARKS.md; samples ask for the concept in the world's grammar.
    training=TrainingPreset(
        8,
        8,
        1e-3,
        4,
        1,
        32,
        40,
        sample_prompts=WORLD_SAMPLES,
        prior_images=40,
        prior_prompts=scene_prompts(40, seed=40),
    ),
    description=(
        "A toy world of coloured shapes, for trying the studio without a GPU: 32 px images of circles, squares "
        "and triangles in 8 colours, e.g. 'a red circle on a blue background'. It knows nothing else."
    ),
)
_TINY_SDXL = replace(
    _TINY_SD, id="tiny-sdxl", display_name="Tiny SDXL (test)", family="sdxl", source="builtin:tiny-sdxl",
    scheduler="euler",
)  # fmt: skip
_TINY_FLUX = replace(
    _TINY_SD,
    id="tiny-flux",
    display_name="Tiny FLUX (test)",
    family="flux",
    source="builtin:tiny-flux",
    guidance=3.5,
    scheduler="flow_match_euler",
    guidance_range=(0.0, 10.0),
    training=_TINY_FLUX_TRAINING,
    size_step=16,
    size_multiple=16,
    max_sequence_length=32,
)
_TINY_FLUX_KONTEXT = replace(
    _TINY_FLUX, id="tiny-flux-kontext", display_name="Tiny FLUX Kontext (test)", source="builtin:tiny-flux-kontext",
    guidance=2.5, edits_by_instruction=True,
)  # fmt: skip
# FLUX.2 [klein] (model cards, black-forest-labs/flux2 README): 4B under Apache-2.0, 9B under the FLUX Non-Commercial
# License; both step-distilled (4 steps, no guidance) and edit from one or several references.
_FLUX2_KLEIN_4B = replace(
    _FLUX_SCHNELL,
    id="flux2-klein-4b",
    display_name="FLUX.2 [klein] 4B",
    family="flux2",
    source="black-forest-labs/FLUX.2-klein-4B",
    vram_gb=16.0,  # 4 B transformer and Qwen3-4B in bf16 (~15 GiB); the card: from ~13 GB with offloading
    quality=4,
    speed=5,
    guidance=1.0,
    guidance_range=(1.0, 1.0),
    training=_FLUX_TRAINING,
    description="Fast FLUX.2: 1024 px in 4 steps; /vary edits from the image (and character sheets from several).",
    licence=APACHE,
    max_sequence_length=512,
    edits_by_instruction=True,
)
_FLUX2_KLEIN_9B = replace(
    _FLUX2_KLEIN_4B,
    id="flux2-klein-9b",
    display_name="FLUX.2 [klein] 9B",
    source="black-forest-labs/FLUX.2-klein-9B",
    vram_gb=33.0,  # 9 B transformer and Qwen3-8B in bf16
    quality=5,
    speed=4,
    description="The larger klein: more detail than 4B, same 4 steps and reference edits.",
    licence="FLUX Non-Commercial License",
)
_TINY_FLUX2 = replace(
    _TINY_FLUX, id="tiny-flux2", display_name="Tiny FLUX.2 klein (test)", family="flux2", source="builtin:tiny-flux2",
    guidance=1.0, guidance_range=(1.0, 1.0), edits_by_instruction=True,
)  # fmt: skip
# Z-Image Turbo (model card, Tongyi-MAI/Z-Image-Turbo): 6.15 B parameters, Apache-2.0, 8 steps without guidance;
# 19.1 GiB of bf16 weights whole, ~13 GiB with model offload (engine/families/zimage/memory_plan.py). Its blocks'
# attention and feed-forward layers, as LoRAs for it name them (training is refused: the family says why).
ZIMAGE_MODULES: tuple[str, ...] = (
    "attention.to_q", "attention.to_k", "attention.to_v", "attention.to_out.0",
    "feed_forward.w1", "feed_forward.w2", "feed_forward.w3",
)  # fmt: skip
_ZIMAGE_TURBO = replace(
    _FLUX_SCHNELL,
    id="zimage-turbo",
    display_name="Z-Image Turbo",
    family="zimage",
    source="Tongyi-MAI/Z-Image-Turbo",
    vram_gb=21.0,
    quality=4,
    speed=4,
    steps=8,
    step_range=(1, 16),
    training=replace(_FLUX_TRAINING, target_modules=ZIMAGE_MODULES),
    description="Distilled 6 B model: photorealistic 1024 px in 8 steps, English and Chinese text; fits 16 GB cards.",
    max_sequence_length=None,
)
_TINY_ZIMAGE = replace(
    _TINY_FLUX, id="tiny-zimage", display_name="Tiny Z-Image (test)", family="zimage", source="builtin:tiny-zimage",
    guidance=0.0, guidance_range=(0.0, 0.0), max_sequence_length=None,
    training=replace(_TINY_FLUX_TRAINING, target_modules=ZIMAGE_MODULES),
)  # fmt: skip
# Qwen-Image (model card, Qwen/Qwen-Image): 20 B MMDiT + Qwen2.5-VL-7B, Apache-2.0, 50 steps of true CFG 4 (the
# guidance here) against a negative prompt, 1328 px; ~54 GiB in bf16 (engine/families/qwen/memory_plan.py).
QWEN_MODULES = (*FLUX_MODULES[:8], "img_mlp.net.0.proj", "img_mlp.net.2", "txt_mlp.net.0.proj", "txt_mlp.net.2")
_QWEN_SIZES = {"1:1": (1328, 1328), "2:3": (1056, 1584), "3:2": (1584, 1056), "16:9": (1664, 928), "9:16": (928, 1664)}
_QWEN_IMAGE = replace(
    _FLUX_DEV, id="qwen-image", display_name="Qwen-Image", family="qwen", source="Qwen/Qwen-Image", vram_gb=58.0,
    default_size=(1328, 1328), steps=50, guidance=4.0, guidance_range=(1.0, 10.0), aspect_sizes=_sizes(_QWEN_SIZES),
    training=replace(_FLUX_TRAINING, target_modules=QWEN_MODULES), licence=APACHE, max_sequence_length=None,
    description="20 B model with the best text rendering here (English and Chinese signs, posters); slow, 50 steps.",
)  # fmt: skip
_TINY_QWEN = replace(
    _TINY_FLUX, id="tiny-qwen", display_name="Tiny Qwen-Image (test)", family="qwen", source="builtin:tiny-qwen",
    guidance=4.0, guidance_range=(1.0, 10.0), max_sequence_length=None,
    training=replace(_TINY_FLUX_TRAINING, target_modules=QWEN_MODULES),
)  # fmt: skip
# Each variant above states only what differs from the model it derives from.
_PRESETS: tuple[ModelPreset, ...] = (
    _SD15, _SDXL, _SDXL_TURBO, _FLUX_SCHNELL, _FLUX_DEV, _FLUX_KONTEXT, _TINY_SD, _TINY_SDXL, _TINY_FLUX,
    _TINY_FLUX_KONTEXT, _TINY_WORLD, _FLUX2_KLEIN_4B, _FLUX2_KLEIN_9B, _TINY_FLUX2, _ZIMAGE_TURBO, _TINY_ZIMAGE,
    _QWEN_IMAGE, _TINY_QWEN,
)  # fmt: skip
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
    by_family = {
        "sd15": "sd15", "sdxl": "sdxl", "flux": "flux-dev", "flux2": "flux2-klein-4b", "zimage": "zimage-turbo",
        "qwen": "qwen-image",
    }  # fmt: skip
    if family not in by_family:
        raise ModelUnavailable(
            f"Model family '{family}' is not supported yet. Supported families: {', '.join(RUNNABLE_FAMILIES)}."
        )
    return _BY_ID[by_family[family]]
