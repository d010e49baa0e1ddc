"""How well the world's eyes tell characters apart, on fresh renders of the world's own scenes and zorps.

A character here is what a prompt of the world names: a shape in a colour, one or two of them (48), or the zorp.
Two renders of one character differ in background, position and size, as two generations of it would. Shared by
the test that holds thresholds and by scripts/bench_tiny_world_eyes.py, which records the figures.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from engine.tiny.world import world
from engine.tiny.world.concept import BACKGROUNDS

ZORP = ("zorp",)
Character = tuple[Any, ...]  # (shape, colour, count), or ZORP


def characters() -> list[Character]:
    """The world's 48 simple characters and the zorp."""
    return [(s, c, n) for s in world.SHAPES for c in world.COLOURS for n in (1, 2)] + [ZORP]


def render(character: Character, rng: random.Random) -> Image.Image:
    """One render of `character` on a background, at a position, drawn by `rng`."""
    if character == ZORP:
        return world.render_zorp(rng.choice(BACKGROUNDS), rng)
    shape, colour, count = character
    background = rng.choice([c for c in world.COLOURS if c != colour])
    position = rng.choice(world.POSITIONS) if count == 1 else "centre"
    return world.render(world.Scene(shape, colour, background, count, position), rng)


@dataclass(frozen=True)
class Pairs:
    anchors: list[Image.Image]
    same: list[Image.Image]  # another render of the anchor's character
    different: list[Image.Image]  # a render of another character


def pairs(count: int, seed: int = 0) -> Pairs:
    """`count` anchors, each with a render of its own character and one of another (a zorp every tenth)."""
    rng = random.Random(seed)
    pool = characters()
    anchors, same, different = [], [], []
    for i in range(count):
        character = ZORP if i % 10 == 0 else rng.choice(pool[:-1])
        other = rng.choice([c for c in pool if c != character])
        anchors.append(render(character, rng))
        same.append(render(character, rng))
        different.append(render(other, rng))
    return Pairs(anchors, same, different)


def unit_vectors(embedder: Any, images: Sequence[Image.Image]) -> np.ndarray:
    """Each image's embedding by any `ImageEmbedder`, scaled to length 1."""
    vectors = np.asarray(embedder.embed(list(images)), dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def cosines(embedder: Any, a: Sequence[Image.Image], b: Sequence[Image.Image]) -> np.ndarray:
    """Cosine of a[i] and b[i]."""
    return (unit_vectors(embedder, a) * unit_vectors(embedder, b)).sum(axis=1)


def retrieval(embedder: Any, queries_per_character: int = 4, seed: int = 0) -> float:
    """Share of renders whose nearest character, in a gallery of one other render of each of the 49, is theirs."""
    rng = random.Random(seed)
    pool = characters()
    gallery = unit_vectors(embedder, [render(c, rng) for c in pool])
    queries = [render(c, rng) for c in pool for _ in range(queries_per_character)]
    truth: np.ndarray = np.repeat(np.arange(len(pool)), queries_per_character)
    found = (unit_vectors(embedder, queries) @ gallery.T).argmax(axis=1)
    return float((found == truth).mean())


def training_centre(embedder: Any, images: Sequence[Image.Image]) -> np.ndarray:
    """The mean of the training images' unit vectors: what likeness compares samples to (as the trainer does)."""
    return unit_vectors(embedder, images).mean(axis=0)


def lora_scores(
    manager: Any, lora: Any, embedder: Any, centre: np.ndarray, prompts: Sequence[str], scale: float = 1.0
) -> tuple[float, float]:
    """(consistency, likeness) of tiny-world's images of `prompts` (seeds 0..) with LoRA file `lora` at `scale`
    (None: no LoRA), scored as the trainer scores a checkpoint's samples."""
    from engine.catalog import ModelSpec, get_preset
    from engine.tiny.world.fidelity import generate
    from engine.training.samples import consistency_scores
    from engine.types import LoraSpec

    preset = get_preset("tiny-world")
    spec = ModelSpec.from_preset(preset)
    pipe, cache = manager.pipeline(spec), manager.loras(spec)
    cache.activate([] if lora is None else [LoraSpec("concept", lora, spec.family, scale)])
    try:
        images = generate(pipe, list(prompts), steps=preset.steps, guidance=preset.guidance, seed=0)
    finally:
        cache.activate([])
    consistency, likeness = consistency_scores(np.asarray(embedder.embed(images)), centre)
    if consistency is None or likeness is None:
        raise ValueError("scores need two prompts or more")
    return consistency, likeness
