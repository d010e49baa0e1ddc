"""Prompt fidelity of a Tiny World pipeline: the share of images whose two colours are those the prompt names.

Shared by the test that holds a threshold and by scripts/bench_tiny_world.py, which records the figure.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from engine.tiny.world import world
from engine.tiny.world.reading import matches

CHANCE = 1 / (len(world.COLOURS) * (len(world.COLOURS) - 1))  # both colours right by guessing: 1/56


def fidelity_prompts(count: int, seed: int = 0) -> list[str]:
    """`count` prompts that all name a background, alternating held-out and seen (shape, colour, background)."""
    rng = random.Random(seed)
    held = sorted(world.held_out_triples())
    seen = world.training_triples()
    prompts = []
    for i in range(count):
        shape, colour, background = rng.choice(held if i % 2 == 0 else seen)
        count_ = 2 if rng.random() < 0.2 else 1
        position = rng.choice(world.POSITIONS) if count_ == 1 else "centre"
        scene = world.Scene(shape, colour, background, count_, position)
        prompts.append(world.caption(scene))  # no rng: the background is always named
    return prompts


def generate(
    pipe: Any, prompts: Sequence[str], *, steps: int, guidance: float, batch: int = 64, seed: int = 0
) -> list[Any]:
    """One image per prompt at the native size; prompt i uses seed `seed + i`, whatever the batching."""
    import torch

    images: list[Any] = []
    for start in range(0, len(prompts), batch):
        chunk = list(prompts[start : start + batch])
        generators = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        out = pipe(
            chunk,
            height=world.SIZE,
            width=world.SIZE,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generators,
        )
        images.extend(out.images)
    return images


def fidelity(images: Sequence[Any], prompts: Sequence[str]) -> float:
    """Share of images whose shape colour and background colour both match their prompt."""
    return sum(matches(image, prompt) for image, prompt in zip(images, prompts, strict=True)) / len(prompts)


def shuffled_fidelity(images: Sequence[Any], prompts: Sequence[str], rounds: int = 20) -> float:
    """Fidelity against shuffled prompts: the chance level for these very images."""
    rng = random.Random(7)
    total = 0.0
    for _ in range(rounds):
        order = list(prompts)
        rng.shuffle(order)
        total += fidelity(images, order)
    return total / rounds
