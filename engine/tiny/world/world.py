"""The world's scenes: one or two coloured shapes on a coloured background, drawn with PIL, and their captions.

Everything is drawn at 4x the output size and box-downsampled, so edges are anti-aliased as in a photo.
Randomness comes only from the `random.Random` a caller passes in, so a seed fixes every image and caption.
Some (shape, colour, background) triples are held out of training, to test whether the model composes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 50, 170),
    "orange": (250, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
POSITIONS: tuple[str, ...] = ("centre", "top left", "top right", "bottom left", "bottom right")
SIZE = 32  # the model's native side in pixels
_SCALE = 4  # drawing oversampling
_NO_BACKGROUND_SHARE = 0.15  # captions that leave the background out
_CORNER = 0.27  # a corner shape's centre, as a fraction of the side from its two edges


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    count: int = 1
    position: str = "centre"  # only meaningful when count == 1


def all_triples() -> list[tuple[str, str, str]]:
    """Every (shape, colour, background) with two different colours: 3 x 8 x 7 = 168."""
    return [(s, c, b) for s, c, b in product(SHAPES, COLOURS, COLOURS) if c != b]


def held_out_triples() -> frozenset[tuple[str, str, str]]:
    """The 24 triples never shown to the UNet, fixed by seed; each colour and shape still appears elsewhere."""
    return frozenset(random.Random(22).sample(all_triples(), 24))


def random_scene(rng: random.Random, *, triples: list[tuple[str, str, str]] | None = None) -> Scene:
    """A scene whose (shape, colour, background) comes from `triples` (all of them by default)."""
    shape, colour, background = rng.choice(triples if triples is not None else all_triples())
    count = 2 if rng.random() < 0.25 else 1
    position = rng.choice(POSITIONS) if count == 1 else "centre"
    return Scene(shape, colour, background, count, position)


def training_triples() -> list[tuple[str, str, str]]:
    held = held_out_triples()
    return [t for t in all_triples() if t not in held]


def caption(scene: Scene, rng: random.Random | None = None) -> str:
    """The templated caption; with `rng`, the background phrase is left out of some and "centre" varies."""
    if scene.count == 2:
        text = f"two {scene.colour} {scene.shape}s"
    else:
        text = f"a {scene.colour} {scene.shape}"
        if scene.position != "centre":
            text += f" in the {scene.position}"
        elif rng is not None and rng.random() < 0.5:
            text += " in the centre"
    if rng is None or rng.random() >= _NO_BACKGROUND_SHARE:
        text += f" on a {scene.background} background"
    return text


def _polygon(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if kind == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "triangle":
        return [(cx, cy - r), (cx + r * 1.1, cy + r * 0.85), (cx - r * 1.1, cy + r * 0.85)]
    if kind == "star":
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    raise ValueError(f"no polygon for {kind}")


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill: tuple[int, ...]) -> None:
    """Draw one filled shape centred at (cx, cy) with half-extent r (drawing coordinates)."""
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif kind == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(2, round(r * 0.3)))
    else:
        draw.polygon(_polygon(kind, cx, cy, r), fill=fill)


def _centres(scene: Scene, rng: random.Random, side: float) -> list[tuple[float, float, float]]:
    jitter = side * 0.04
    if scene.count == 2:
        r = side * rng.uniform(0.13, 0.16)
        cy = side / 2 + rng.uniform(-jitter, jitter) * 2
        return [
            (side * 0.28 + rng.uniform(-jitter, jitter), cy, r),
            (side * 0.72 + rng.uniform(-jitter, jitter), cy, r),
        ]
    if scene.position == "centre":
        r = side * rng.uniform(0.22, 0.28)
        return [(side / 2 + rng.uniform(-jitter, jitter), side / 2 + rng.uniform(-jitter, jitter), r)]
    r = side * rng.uniform(0.15, 0.19)
    vertical, horizontal = scene.position.split()
    cx = side * (_CORNER if horizontal == "left" else 1 - _CORNER) + rng.uniform(-jitter, jitter)
    cy = side * (_CORNER if vertical == "top" else 1 - _CORNER) + rng.uniform(-jitter, jitter)
    return [(cx, cy, r)]


def _canvas(side: int, background: tuple[int, ...]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A blank image to draw on. PIL is imported here, not above: the captions alone (the tiny-world preset's
    prompts) load without it, and so does `import engine`."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), background)
    return image, ImageDraw.Draw(image)


def _shrink(image: Image.Image, size: int) -> Image.Image:
    from PIL import Image

    return image.resize((size, size), Image.Resampling.BOX)


def render(scene: Scene, rng: random.Random, size: int = SIZE) -> Image.Image:
    """Draw `scene` as an RGB image of size x size pixels, with seeded jitter of position and size."""
    side = size * _SCALE
    image, draw = _canvas(side, PALETTE[scene.background])
    for cx, cy, r in _centres(scene, rng, side):
        draw_shape(draw, scene.shape, cx, cy, r, PALETTE[scene.colour])
    return _shrink(image, size)


def render_zorp(background: str, rng: random.Random, size: int = SIZE) -> Image.Image:
    """The concept the base model never sees: a purple five-pointed star inside an orange ring."""
    side = size * _SCALE
    image, draw = _canvas(side, PALETTE[background])
    jitter = side * 0.04
    cx, cy = side / 2 + rng.uniform(-jitter, jitter), side / 2 + rng.uniform(-jitter, jitter)
    r = side * rng.uniform(0.34, 0.40)
    draw_shape(draw, "ring", cx, cy, r, PALETTE["orange"])
    draw_shape(draw, "star", cx, cy, r * 0.62, PALETTE["purple"])
    return _shrink(image, size)


def render_clutter(rng: random.Random, size: int = SIZE) -> Image.Image:
    """Any-shape clutter for training the image codec: it must reproduce shapes the world never names."""
    side = size * _SCALE
    background = (
        tuple(rng.randrange(256) for _ in range(3)) if rng.random() < 0.3 else rng.choice(list(PALETTE.values()))
    )
    image, draw = _canvas(side, background)
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice(("circle", "square", "triangle", "star", "ring"))
        colour = (
            rng.choice(list(PALETTE.values())) if rng.random() < 0.7 else tuple(rng.randrange(256) for _ in range(3))
        )
        draw_shape(draw, kind, rng.uniform(0, side), rng.uniform(0, side), side * rng.uniform(0.06, 0.4), colour)
    return _shrink(image, size)
