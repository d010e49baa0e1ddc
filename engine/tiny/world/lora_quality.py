"""What a LoRA trained on zorps did to `tiny-world`: the zorp rate by LoRA scale, and the damage to other prompts.

The LoRA is applied as the studio applies one to a generation (the engine's LoRA cache, at a scale); images are
made in batches, prompt i with seed `seed + i` at every scale, so the scales differ only by the LoRA. Shared by
the slow test that holds thresholds and by scripts/bench_tiny_world_lora.py, which records the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.tiny.world.concept import trigger_prompts, zorp_rate
from engine.tiny.world.fidelity import fidelity, fidelity_prompts, generate
from engine.tiny.world.reading import read_colours

SCALES: tuple[float, ...] = (0.0, 0.8, 1.0, 1.2)


@dataclass(frozen=True)
class LoraFigures:
    zorp: dict[float, float]  # LoRA scale -> share of the trigger prompts' images that read as a zorp
    background: dict[float, float]  # LoRA scale -> share of them on the background their prompt names
    base_fidelity: float | None  # the prompts without the trigger, no LoRA: both colours as named
    lora_fidelity: float  # the same prompts and seeds with the LoRA at 1.0


def measure(
    manager: Any,
    lora: Path,
    *,
    scales: Sequence[float] = SCALES,
    trigger_count: int = 30,
    fidelity_count: int = 50,
    seed: int = 0,
    with_base: bool = True,
) -> LoraFigures:
    """Generate with the tiny-world preset's steps and guidance, through `manager` (an engine PipelineManager);
    `with_base=False` leaves out the base model's fidelity (known from the model: BENCHMARKS.md)."""
    from engine.catalog import ModelSpec, get_preset
    from engine.types import LoraSpec

    preset = get_preset("tiny-world")
    spec = ModelSpec.from_preset(preset)
    pipe = manager.pipeline(spec)
    cache = manager.loras(spec)

    def images(prompts: list[str], scale: float | None) -> list[Any]:
        cache.activate([] if scale is None else [LoraSpec("zorp", lora, spec.family, scale)])
        return generate(pipe, prompts, steps=preset.steps, guidance=preset.guidance, seed=seed)

    triggers = trigger_prompts(trigger_count)
    zorp, background = {}, {}
    for scale in scales:
        made = images(triggers, scale)
        zorp[scale] = zorp_rate(made)
        wanted = [p.split(" on a ")[1].split()[0] for p in triggers]
        background[scale] = sum(read_colours(im).background == w for im, w in zip(made, wanted, strict=True)) / len(
            made
        )
    others = fidelity_prompts(fidelity_count)
    base = fidelity(images(others, None), others) if with_base else None
    with_lora = fidelity(images(others, 1.0), others)
    cache.activate([])
    return LoraFigures(zorp, background, base, with_lora)
