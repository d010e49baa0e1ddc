"""The world's captioner: a small trained CNN that reads a Tiny World image into one of the world's own prompts.

One classification head per attribute (shape, shape colour, background colour, layout: one of five positions or
two shapes) on a shared convolutional trunk. The heads' probabilities rank whole scenes, and the best scenes are
written with the world's caption grammar (`world.caption`), so every caption is a prompt `tiny-world` knows:
"a red circle on a blue background", "two green squares on a black background".

The weights (scripts/build_tiny_world_captioner.py made them) are committed in `captioner/model.safetensors`
beside this file; the label lists travel in its metadata, so a file always reads with its own vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import nn

from engine.tiny.world import world

CAPTIONER_FILE = Path(__file__).resolve().parent / "captioner" / "model.safetensors"
# A scene's layout is one label: where its single shape is, or that there are two (they always sit side by side).
TWO = "two"
LAYOUTS: tuple[str, ...] = (*world.POSITIONS, TWO)
HEADS: dict[str, tuple[str, ...]] = {
    "shape": world.SHAPES,
    "colour": world.COLOURS,
    "background": world.COLOURS,
    "layout": LAYOUTS,
}
WIDTHS = (16, 32, 64, 64)  # trunk channels: 32 px, then 16, 8 and 4 px after each stride-2 step
HIDDEN = 128


class WorldReader(nn.Module):
    """32x32 RGB in [-1, 1] -> one logit vector per head (a dict keyed by head name)."""

    def __init__(self, heads: dict[str, tuple[str, ...]] = HEADS, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(channels, width, 3, stride=stride, padding=1), nn.BatchNorm2d(width), nn.SiLU()]
            channels = width
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        side = world.SIZE // 2 ** (len(widths) - 1)
        # Flattened (not pooled) features keep where things are, which the layout head needs.
        self.neck = nn.Sequential(nn.Linear(channels * side * side, HIDDEN), nn.SiLU(), nn.Dropout(0.1))
        self.heads = nn.ModuleDict({name: nn.Linear(HIDDEN, len(labels)) for name, labels in heads.items()})

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.neck(self.trunk(pixels))
        return {name: head(features) for name, head in self.heads.items()}


def labels_of(scene: world.Scene) -> dict[str, int]:
    """A scene as one class index per head."""
    layout = TWO if scene.count == 2 else scene.position
    return {
        "shape": world.SHAPES.index(scene.shape),
        "colour": world.COLOURS.index(scene.colour),
        "background": world.COLOURS.index(scene.background),
        "layout": LAYOUTS.index(layout),
    }


def scene_of(shape: str, colour: str, background: str, layout: str) -> world.Scene:
    if layout == TWO:
        return world.Scene(shape, colour, background, 2, "centre")
    return world.Scene(shape, colour, background, 1, layout)


def to_pixels(images: list[Image.Image]) -> torch.Tensor:
    """RGB images at the world's size (others are resized), as an N x 3 x 32 x 32 tensor in [-1, 1]."""
    side = world.SIZE
    arrays = []
    for image in images:
        image = image.convert("RGB")
        if image.size != (side, side):
            image = image.resize((side, side), Image.Resampling.BOX)
        arrays.append(np.asarray(image, dtype=np.float32))
    stacked = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return stacked / 127.5 - 1.0


@dataclass(frozen=True)
class Reading:
    """A scene the captioner sees, with its probability under the heads (taken as independent)."""

    scene: world.Scene
    probability: float

    @property
    def caption(self) -> str:
        return world.caption(self.scene)


class WorldCaptioner:
    """A `Captioner` for Tiny World images; `candidates` gives the best distinct captions for /describe."""

    def __init__(self, model: WorldReader, heads: dict[str, tuple[str, ...]] = HEADS) -> None:
        self.model = model.eval()
        self.heads = heads

    @torch.inference_mode()
    def probabilities(self, images: list[Image.Image]) -> list[dict[str, np.ndarray]]:
        """Per image, each head's class probabilities."""
        logits = self.model(to_pixels(images))
        probs = {name: torch.softmax(value.float(), -1).numpy() for name, value in logits.items()}
        return [{name: probs[name][i] for name in self.heads} for i in range(len(images))]

    def readings(self, image: Image.Image, count: int = 1) -> list[Reading]:
        """The `count` most probable scenes; the shape's colour is never the background's (as in the world)."""
        return self._ranked(self.probabilities([image])[0], count)

    def read_batch(self, images: list[Image.Image]) -> list[world.Scene]:
        """The most probable scene of each image, from one forward pass for all."""
        return [self._ranked(probs, 1)[0].scene for probs in self.probabilities(images)]

    def _ranked(self, probs: dict[str, np.ndarray], count: int) -> list[Reading]:
        # Whole scenes (3 x 8 x 8 x 6) scored by the product of their heads' probabilities.
        joint = np.einsum("s,c,b,l->scbl", probs["shape"], probs["colour"], probs["background"], probs["layout"])
        same: np.ndarray = np.eye(joint.shape[1], dtype=bool)
        joint[:, same, :] = -1.0  # a shape never has its background's colour
        order = np.argsort(-joint, axis=None, kind="stable")[:count]
        names = list(self.heads.values())
        readings = []
        for s, c, b, layout in zip(*np.unravel_index(order, joint.shape), strict=True):
            scene = scene_of(names[0][s], names[1][c], names[2][b], names[3][layout])
            readings.append(Reading(scene, float(joint[s, c, b, layout])))
        return readings

    def caption(self, image: Image.Image, detail: Literal["short", "detailed"] = "short") -> str:
        """The most probable scene as a world prompt; the world has no more detail to give than that."""
        if detail not in ("short", "detailed"):
            raise ValueError(f"detail must be 'short' or 'detailed', not {detail!r}")
        return self.readings(image, 1)[0].caption

    def candidates(self, image: Image.Image, count: int) -> list[str]:
        """The `count` most probable scenes' captions, best first: all distinct, all world prompts."""
        return [reading.caption for reading in self.readings(image, count)]


def save_captioner(model: WorldReader, path: Path, *, build: dict[str, Any]) -> None:
    """Write the weights (float32) with the head vocabularies and how they were built in the metadata."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    # One metadata entry: safetensors writes several in no fixed order, and the same weights must give the same file.
    config = json.dumps({"heads": HEADS, "widths": WIDTHS, "build": build}, sort_keys=True)
    save_file(state, str(path), metadata={"captioner": config})


def load_world_captioner(path: Path = CAPTIONER_FILE) -> WorldCaptioner:
    """The committed captioner (or another file the build script wrote)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(
            f"The Tiny World captioner's weights are missing at {path}: "
            "run scripts/build_tiny_world_captioner.py to make them."
        )
    with safe_open(str(path), framework="pt") as handle:
        config = json.loads((handle.metadata() or {})["captioner"])
    heads = {name: tuple(config["heads"][name]) for name in HEADS}  # in the order the code ranks them
    model = WorldReader(heads, tuple(config["widths"]))
    model.load_state_dict(load_file(str(path)))
    return WorldCaptioner(model, heads)
