"""How well the world's captioner reads images, and whether /vary's colour changes land: shared by the tests that
hold thresholds and by scripts/bench_tiny_world_captioner.py, which records the figures.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from engine.tiny.world import world
from engine.tiny.world.instructions import parse_caption

ATTRIBUTES = ("shape", "colour", "background", "layout")


def layout(scene: world.Scene) -> str:
    return "two" if scene.count == 2 else scene.position


def agreement(read: Sequence[world.Scene], truth: Sequence[world.Scene]) -> dict[str, float]:
    """Per attribute, the share of readings that match the truth, and `exact`: all four at once."""
    pairs = list(zip(read, truth, strict=True))
    result = {
        "shape": sum(r.shape == t.shape for r, t in pairs),
        "colour": sum(r.colour == t.colour for r, t in pairs),
        "background": sum(r.background == t.background for r, t in pairs),
        "layout": sum(layout(r) == layout(t) for r, t in pairs),
        "exact": sum(world.caption(r) == world.caption(t) for r, t in pairs),
    }
    return {name: count / len(pairs) for name, count in result.items()}


def rendered(count: int, seed: int) -> tuple[list[Any], list[world.Scene]]:
    """`count` clean renders of random scenes over all triples, and the scenes."""
    rng = random.Random(seed)
    scenes = [world.random_scene(rng) for _ in range(count)]
    return [world.render(scene, rng) for scene in scenes], scenes


def prompt_scenes(prompts: Sequence[str]) -> list[world.Scene]:
    scenes = [parse_caption(prompt) for prompt in prompts]
    if any(scene is None for scene in scenes):
        raise ValueError("every prompt must be a world caption that names its background")
    return [scene for scene in scenes if scene is not None]


def vary_sources(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` (source prompt, target colour) pairs: a scene and a colour its shape and background do not have."""
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        target = "green" if i % 2 == 0 else rng.choice(world.COLOURS)
        shape, colour, background = rng.choice([t for t in world.all_triples() if target not in t[1:]])
        position = rng.choice(world.POSITIONS)
        pairs.append((world.caption(world.Scene(shape, colour, background, 1, position)), target))
    return pairs
