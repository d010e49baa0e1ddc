"""Prompts in the world's grammar for training runs on `tiny-world`: its checkpoint samples and its prior images.

Pure Python (no torch): the model's preset (engine/presets.py) names them.
"""

from __future__ import annotations

import random

from engine.tiny.world import world

# A concept the run teaches, asked for as the world's captions ask for a shape: on backgrounds it never
# shares a colour with a zorp's ring or star, so every sample can show it.
WORLD_SAMPLES: tuple[str, ...] = tuple(
    f"{{trigger}}, a {{trigger}} on a {background} background" for background in ("blue", "green", "yellow", "black")
)


def scene_prompts(count: int, seed: int) -> tuple[str, ...]:
    """`count` captions as the world's generator writes them for the base model's training data (seen triples,
    the background phrase sometimes left out): what prior preservation asks the base model to keep drawing."""
    rng = random.Random(seed)
    triples = world.training_triples()
    return tuple(world.caption(world.random_scene(rng, triples=triples), rng) for _ in range(count))
