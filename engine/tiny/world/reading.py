"""Read a Tiny World image's colours from its pixels: the background from the border, the shape from the rest.

No model: each pixel is snapped to the nearest of the world's 8 palette colours. The background is the most
common colour of the 2-pixel frame; the shape colour is the most common colour among the pixels that are not
the background's, weighted toward the centre of those pixels so anti-aliased edges (blends of the two colours)
do not outvote the shape's inside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.tiny.world.world import COLOURS, PALETTE

_PALETTE = np.array([PALETTE[name] for name in COLOURS], dtype=np.float32)
_FRAME = 2
_PROMPT = re.compile(r"\b(?:a|two) (\w+) \w+?.*? on an? (\w+) background")


@dataclass(frozen=True)
class ColourReading:
    colour: str  # the shape's, or the background's again when no shape is seen
    background: str


def _nearest(pixels: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour for each RGB row."""
    distances = ((pixels[:, None, :] - _PALETTE[None, :, :]) ** 2).sum(-1)
    return distances.argmin(-1)


def read_colours(image: Image.Image) -> ColourReading:
    """The shape colour and the background colour `image` shows."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width, _ = rgb.shape
    labels = _nearest(rgb.reshape(-1, 3)).reshape(height, width)
    frame = np.ones((height, width), dtype=bool)
    frame[_FRAME:-_FRAME, _FRAME:-_FRAME] = False
    background = int(np.bincount(labels[frame], minlength=len(COLOURS)).argmax())
    # Pixels far from the background colour (not mere blends at the edge) count twice.
    far = ((rgb - _PALETTE[background]) ** 2).sum(-1) > 90.0**2
    other = labels != background
    weights = other.astype(np.float32) + (other & far)
    votes = np.bincount(labels.ravel(), weights=weights.ravel(), minlength=len(COLOURS))
    colour = int(votes.argmax()) if votes.max() > 0 else background
    return ColourReading(COLOURS[colour], COLOURS[background])


def prompt_colours(prompt: str) -> ColourReading | None:
    """The shape and background colours a world prompt names, or None when it names no background."""
    match = _PROMPT.search(prompt)
    if match is None or match.group(1) not in PALETTE or match.group(2) not in PALETTE:
        return None
    return ColourReading(match.group(1), match.group(2))


def matches(image: Image.Image, prompt: str) -> bool:
    """Whether both colours `image` shows are those `prompt` names."""
    wanted = prompt_colours(prompt)
    return wanted is not None and read_colours(image) == wanted
