"""Read the world's new concept, the zorp (a purple star inside an orange ring), from an image's pixels.

No model: pixels are snapped to the nearest palette colour, as `reading` does. Around the best of a few
candidate centres near the middle, the score is the smaller of two shares: the orange pixels of the annulus where
the ring is drawn, and the purple pixels of the small disc at the star's heart. A base scene never has both (its
shape has one colour, and an orange background is not a ring), so its score stays near 0; a drawn zorp scores
near 1, and a blurry generated one in between.

It says whether an image shows the concept; how close it is to the training images is the likeness the world's
eyes measure (`eyes`, `identity.lora_scores`). `write_zorp_set` and `trigger_prompts` make the training folder
and the prompts of issue 22's second figure.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from engine.tiny.world.world import COLOURS, PALETTE, render_zorp

_PALETTE = np.array([PALETTE[name] for name in COLOURS], dtype=np.float32)
_ORANGE, _PURPLE = COLOURS.index("orange"), COLOURS.index("purple")
_FRAME = 2
# As fractions of the side (world.render_zorp): the ring's outer radius is 0.34-0.40 and it is 0.3 of that thick,
# so 0.28-0.34 always lies on it; the star's inner corners are at 0.095 or more, so 0.07 lies inside it.
_RING = (0.28, 0.34)
_CORE = 0.07
_SHIFT = 0.08  # how far from the middle the centre is looked for (the generator jitters it by 0.04)
THRESHOLD = 0.4  # a score from here up reads as a zorp


def _labels(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    distances = ((rgb[:, :, None, :] - _PALETTE[None, None, :, :]) ** 2).sum(-1)
    return distances.argmin(-1)


def zorp_score(image: Image.Image) -> float:
    """How clearly `image` shows a zorp, in [0, 1]: min(orange share of the ring, purple share of the core)."""
    labels = _labels(image)
    height, width = labels.shape
    side = min(height, width)
    frame = np.ones((height, width), dtype=bool)
    frame[_FRAME:-_FRAME, _FRAME:-_FRAME] = False
    background = int(np.bincount(labels[frame], minlength=len(COLOURS)).argmax())
    if background in (_ORANGE, _PURPLE):
        return 0.0  # the ring or the star would be the background itself: nothing to tell them by
    orange, purple = labels == _ORANGE, labels == _PURPLE
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    reach = max(1, round(side * _SHIFT))
    best = 0.0
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            distance = np.hypot(ys - (height / 2 + dy), xs - (width / 2 + dx)) / side
            ring = (distance >= _RING[0]) & (distance <= _RING[1])
            core = distance <= _CORE
            if not core.any():
                continue
            best = max(best, min(float(orange[ring].mean()), float(purple[core].mean())))
    return best


def is_zorp(image: Image.Image) -> bool:
    return zorp_score(image) >= THRESHOLD


def zorp_rate(images: Sequence[Image.Image]) -> float:
    """The share of `images` that read as a zorp."""
    return sum(is_zorp(image) for image in images) / len(images)


# The backgrounds a zorp is drawn on: every colour but its own two, so the ring and the star always show.
BACKGROUNDS: tuple[str, ...] = tuple(c for c in COLOURS if c not in ("orange", "purple"))


def zorp_caption(background: str, trigger: str = "zorp") -> str:
    return f"{trigger}, a zorp on a {background} background"


def write_zorp_set(folder: Path, count: int = 20, seed: int = 1) -> list[Path]:
    """`count` zorps, cycling through the backgrounds, each with its caption in a .txt beside it (as `studio
    train --images` reads a folder); the image paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        background = BACKGROUNDS[i % len(BACKGROUNDS)]
        path = folder / f"zorp-{i:02d}.png"
        render_zorp(background, rng).save(path)
        path.with_suffix(".txt").write_text(zorp_caption(background), encoding="utf-8")
        paths.append(path)
    return paths


def trigger_prompts(count: int) -> list[str]:
    """`count` prompts with the trigger word, cycling through the backgrounds (as the training captions read)."""
    return [zorp_caption(BACKGROUNDS[i % len(BACKGROUNDS)]) for i in range(count)]
