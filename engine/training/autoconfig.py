"""A training run's settings: the base model's preset, sized to the GPU's memory, with the user's overrides.

Every value says where it came from ("preset", "memory", "you", "set"), so the plan a member sees before
starting explains itself. The memory model is trainer notes §6.1 (activations measured as a CPU proxy,
weights and optimizer counted): weights + activations × batch + transient buffers + LoRA state + sampling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from engine.catalog import ModelPreset
from engine.errors import InvalidRequest
from engine.families.base import TrainingCost
from engine.families.registry import FAMILIES, family_of
from engine.training.types import TrainConfig

USER_FIELDS = (
    "steps", "rank", "learning_rate", "resolution", "batch_size", "optimizer", "seed", "train_text_encoder",
    "prior_images",
)  # fmt: skip


# Each family's row lives with the family (`Family.training_cost`, engine/families/); the trainer notes §6 hold
# the measurements behind them.
FamilyCost = TrainingCost
COSTS: Mapping[str, FamilyCost] = MappingProxyType({f.id: f.training_cost for f in FAMILIES.values()})
# The built-in test models: a few MB in all; measured here, about 0.1 s per sample on one CPU thread.
TINY = FamilyCost(64, 0.01, 0.001, 0.001, 0.01, 0.01, 7_680, 0.01, 0.1)

CUDA_CONTEXT_GB = 0.5
# The plan is sized to the GPU's total memory less this reserve, not to what is free at plan time: the run starts
# later, and by then the queue may have loaded or unloaded models; the reserve is for the generations that run
# between two training steps on the same pipeline.
RESERVE_GB = 1.0


def cost_of(preset: ModelPreset) -> FamilyCost:
    if preset.is_test_model:
        return TINY
    try:
        return COSTS[preset.family]
    except KeyError:
        raise InvalidRequest(f"LoRA training for the {preset.family} family is not supported yet.") from None


@dataclass(frozen=True)
class TrainPlan:
    """The settings of a run, where each came from, and what the run should take."""

    config: TrainConfig
    sources: Mapping[str, str]  # field → "preset" | "memory" | "you" | "set"
    images: int
    samples: int  # images seen in all: steps × batch × accumulation
    estimate_s: float
    disk_bytes: int
    memory_gb: float | None  # the estimated peak on the GPU; None on a CPU
    budget_gb: float | None  # what the GPU has for it


def memory_need_gb(cost: FamilyCost, config: TrainConfig, *, sixteen_bit: bool) -> float:
    """The estimated GPU peak of a run (notes §6.1); fp32 doubles the weights and half again the activations."""
    scale = (config.resolution / cost.base_px) ** 2
    per_sample = cost.checkpointed_gb if config.gradient_checkpointing else cost.activations_gb
    weights = cost.weights_gb - (cost.offloadable_gb if config.text_encoder_offload else 0.0)
    weights = weights if sixteen_bit else 2 * weights
    activations = per_sample * scale * config.batch_size * (1.0 if sixteen_bit else 1.5)
    lora_state = cost.lora_params_per_rank * config.rank * 16 / 1e9  # fp32 weight, gradient and two moments
    return CUDA_CONTEXT_GB + weights + activations + cost.transient_gb * scale + lora_state + cost.sampling_gb


def disk_bytes(cost: FamilyCost, config: TrainConfig) -> int:
    """Checkpoint LoRAs (fp32), the newest one's optimizer state, the two exports and some sample grids."""
    params = cost.lora_params_per_rank * config.rank
    checkpoints = math.ceil(config.steps / config.every)
    return params * (4 * checkpoints + 8 + 4 + 2) + checkpoints * 200_000


def _sized(config: TrainConfig, sources: dict[str, str], fits: Any, *, offloadable: bool) -> TrainConfig:
    """Send the text encoder to host memory (free: captions are encoded once), then switch on gradient
    checkpointing (about a third slower), then trade batch for accumulation, until the run fits."""
    if fits(config):
        return config
    if offloadable and not config.text_encoder_offload:
        config = replace(config, text_encoder_offload=True)
        sources["text_encoder_offload"] = "memory"
        if fits(config):
            return config
    if not config.gradient_checkpointing:
        config = replace(config, gradient_checkpointing=True)
        sources["gradient_checkpointing"] = "memory"
    while not fits(config) and config.batch_size > 1 and sources.get("batch_size") != "you":
        config = replace(config, batch_size=config.batch_size // 2, grad_accum=config.grad_accum * 2)
        sources["batch_size"] = sources["grad_accum"] = "memory"
    return config


def plan_training(
    preset: ModelPreset,
    *,
    images: int,
    overrides: Mapping[str, Any],
    gpu_gb: float | None,
    precision: str,
    sample_prompts: Sequence[str] = (),
) -> TrainPlan:
    """The run's TrainConfig from the preset, the user's `overrides` (None values are ignored) and the GPU's memory.

    `gpu_gb` is the GPU's total memory (None: training on the CPU); `precision` is what the engine loads the
    model's weights in (bf16, fp16, or "no" for fp32). Raises InvalidRequest when even the smallest setting does
    not fit.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - set(USER_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown training setting(s): {', '.join(sorted(unknown))}.")
    if images < 1:
        raise InvalidRequest("The training set is empty: add images first.")
    t = preset.training
    sixteen_bit = precision != "no"
    rank = int(given.get("rank", t.rank))
    values: dict[str, Any] = {
        "rank": rank,
        # alpha follows the rank unless the preset's ratio says otherwise: the LoRA's strength stays put.
        "alpha": float(t.alpha * rank / t.rank),
        "learning_rate": t.learning_rate,
        "batch_size": t.batch_size,
        "grad_accum": t.grad_accum,
        "resolution": t.resolution,
        "mixed_precision": precision,
        "sample_prompts": tuple(sample_prompts),
        "sample_steps": min(20, preset.steps),
        "steps": 1,
        "prior_images": t.prior_images,
        "prior_weight": t.prior_weight,
        "prior_prompts": t.prior_prompts,
    }
    sources = {name: "preset" for name in values}
    sources["mixed_precision"] = "engine"
    for name, value in given.items():
        values[name] = value
        sources[name] = "you"
    if values.get("optimizer") == "prodigy" and "learning_rate" not in given:
        values["learning_rate"] = 1.0  # Prodigy finds the step size itself; its authors advise 1.0 here
        sources["learning_rate"] = "optimizer"
    if family_of(preset.family).flow_matching:
        # Flow matching has no noise schedule for an offset or Min-SNR weights to act on.
        values |= {"noise_offset": 0.0, "min_snr_gamma": None}
    config = TrainConfig(**values)
    cost = cost_of(preset)
    budget = None if gpu_gb is None else max(0.0, gpu_gb - RESERVE_GB)
    if budget is not None:
        config = _sized(
            config,
            sources,
            lambda c: memory_need_gb(cost, c, sixteen_bit=sixteen_bit) <= budget,
            offloadable=cost.offloadable_gb > 0,
        )
    if "steps" not in given:
        # The preset's images-seen per image (kohya's repeats × epochs), in optimizer steps.
        per_step = config.batch_size * config.grad_accum
        config = replace(config, steps=max(1, math.ceil(images * t.steps_per_image / per_step)))
        sources["steps"] = "set"
    _check(config, preset)
    need = None if budget is None else memory_need_gb(cost, config, sixteen_bit=sixteen_bit)
    if budget is not None and need is not None and need > budget:
        raise InvalidRequest(
            f"This run needs about {need:.1f} GB of GPU memory and {budget:.1f} GB is there, even with batch 1 "
            f"and gradient checkpointing. Lower the resolution (now {config.resolution}) or the rank (now {rank})."
        )
    # The prior images train beside the set's, as many per step; drawing them costs about a sample each.
    samples = config.steps * config.batch_size * config.grad_accum * (2 if config.prior_images else 1)
    # Drawing them first: two forward passes a step (guidance), a forward pass about a third of a training sample.
    drawing = config.prior_images * config.sample_steps * 2 / 3
    per_sample = cost.sample_s_cpu if gpu_gb is None else cost.sample_s_gpu
    per_sample *= (config.resolution / cost.base_px) ** 2
    return TrainPlan(
        config=config,
        sources=sources,
        images=images,
        samples=samples,
        estimate_s=(samples + drawing) * per_sample,
        disk_bytes=disk_bytes(cost, config),
        memory_gb=need,
        budget_gb=budget,
    )


def fit_to_device(
    preset: ModelPreset, config: TrainConfig, *, gpu_gb: float | None, precision: str, where: str = "this worker"
) -> tuple[TrainConfig, tuple[str, ...]]:
    """A planned `config` re-checked where it runs: the same, or adapted to the device's memory, with what changed.

    A plan is sized for the worker chosen when it was made; by the time it runs it may be elsewhere (another worker,
    a replaced one). Offloading the text encoder, gradient checkpointing and trading batch for accumulation keep the
    run's images seen and its result; resolution and rank would change the LoRA, so a run that still does not fit
    is refused (InvalidRequest) with what to do.
    """
    changed: list[str] = []
    if config.mixed_precision != precision:
        changed.append(f"precision {config.mixed_precision} → {precision}")
        config = replace(config, mixed_precision=precision)
    if gpu_gb is None:  # a CPU run: host memory, not sized
        return config, tuple(changed)
    cost = cost_of(preset)
    budget = max(0.0, gpu_gb - RESERVE_GB)
    sixteen_bit = precision != "no"

    def fits(c: TrainConfig) -> bool:
        return memory_need_gb(cost, c, sixteen_bit=sixteen_bit) <= budget

    before = config
    config = _sized(config, {}, fits, offloadable=cost.offloadable_gb > 0)
    for name in ("text_encoder_offload", "gradient_checkpointing", "batch_size", "grad_accum"):
        if getattr(config, name) != getattr(before, name):
            changed.append(f"{name.replace('_', ' ')} {getattr(before, name)} → {getattr(config, name)}")
    if not fits(config):
        need = memory_need_gb(cost, config, sixteen_bit=sixteen_bit)
        raise InvalidRequest(
            f"This run needs about {need:.1f} GB of GPU memory and {where} has {budget:.1f} GB for it, even with "
            f"batch 1 and gradient checkpointing: plan it again so that it is sized for this worker, with a lower "
            f"resolution (now {config.resolution}) or rank (now {config.rank})."
        )
    return config, tuple(changed)


LIMITS: dict[str, tuple[float, float]] = {
    "steps": (1, 20_000),
    "rank": (1, 256),
    "learning_rate": (1e-6, 10.0),  # Prodigy takes about 1.0
    "batch_size": (1, 64),
    "prior_images": (0, 1000),
}


def _check(config: TrainConfig, preset: ModelPreset) -> None:
    for name, (low, high) in LIMITS.items():
        value = getattr(config, name)
        if not low <= value <= high:
            raise InvalidRequest(f"{name.replace('_', ' ')} must be between {low:g} and {high:g}, not {value:g}.")
    step = max(8 if preset.is_test_model else 64, preset.size_multiple)  # FLUX packs 2×2 latent patches: 16
    low_px, high_px = (32, 512) if preset.is_test_model else (256, 2048)
    if config.resolution % step or not low_px <= config.resolution <= high_px:
        raise InvalidRequest(
            f"resolution must be a multiple of {step} between {low_px} and {high_px}, not {config.resolution}."
        )
    if config.optimizer not in ("adamw", "adamw8bit", "prodigy"):
        raise InvalidRequest("optimizer must be adamw, adamw8bit or prodigy.")
    if config.train_text_encoder and not family_of(preset.family).trains_text_encoder:
        raise InvalidRequest(
            "Text-encoder training is for SD 1.5 models: SDXL trains its UNet only, as kohya advises (its two "
            "encoders are large, and caching their outputs is what makes the run fit)."
        )


def out_of_memory_advice(cfg: TrainConfig) -> str:
    """What to change after an out-of-memory error, from the settings that ran out (cheapest change first)."""
    tries = []
    if cfg.batch_size > 1:
        tries.append(
            f"batch 1 with gradient accumulation {cfg.batch_size * cfg.grad_accum} (the same samples per step)"
        )
    if not cfg.gradient_checkpointing:
        tries.append("gradient checkpointing")
    tries.append(f"a lower resolution (now {cfg.resolution}px) or rank (now {cfg.rank})")
    return f"Out of GPU memory at {cfg.resolution}px, batch {cfg.batch_size}. Try " + ", then ".join(tries) + "."
