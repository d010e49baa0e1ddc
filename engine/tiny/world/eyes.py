"""The world's eyes: a small CNN that turns a Tiny World image into an identity vector.

Identity is the *character* an image shows (what the shapes are and their colours, one or two of them), not
where it stands, how big it is or what it stands on: two renders of the same character on other backgrounds
are close, two characters far. So the studio's consistency, likeness, training-set outlier check and
character-sheet identity mean something on `tiny-world` without CLIP. scripts/build_tiny_world_eyes.py trains
it (contrastively, on characters the world's generator draws) and says how well it reads held-out renders.

A CNN rather than a tiny CLIP vision tower: the notes' 4-pixel-patch ViT read shape poorly (0.69-0.75);
convolutions see edges and corners at 32 px, and global pooling gives the position invariance identity needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from PIL import Image

EYES_DIR = Path(__file__).resolve().parent / "eyes_weights"
NAME = "tiny-world-eyes"
SIZE = 32  # the side the network reads; other sizes are box-resampled to it
_BATCH = 256


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]


class EyesNet(nn.Module):
    """Convolutions at 32, 16 and 8 px, mean and max pooled over the image, projected to `dim` numbers."""

    def __init__(self, widths: Sequence[int] = (32, 64, 128), dim: int = 64) -> None:
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(
            *_block(3, a),
            *_block(a, a),
            nn.AvgPool2d(2),
            *_block(a, b),
            *_block(b, b),
            nn.AvgPool2d(2),
            *_block(b, c),
            *_block(c, c),
        )
        self.head = nn.Sequential(nn.Linear(2 * c, 2 * c), nn.SiLU(), nn.Linear(2 * c, dim))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1], N x 3 x 32 x 32 -> unit vectors, N x dim."""
        x = self.features(pixels)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return nn.functional.normalize(self.head(pooled), dim=1)


def to_pixels(images: Sequence[Image.Image]) -> torch.Tensor:
    """RGB images of any size -> N x 3 x 32 x 32 in [-1, 1] (box resampling, as the world is drawn)."""
    from PIL import Image as PILImage

    arrays = []
    for image in images:
        rgb = image.convert("RGB")
        if rgb.size != (SIZE, SIZE):
            rgb = rgb.resize((SIZE, SIZE), PILImage.Resampling.BOX)
        arrays.append(np.asarray(rgb, dtype=np.uint8))
    if not arrays:
        return torch.zeros((0, 3, SIZE, SIZE))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


class TinyWorldEmbedder:
    """The `ImageEmbedder` of the tiny world: unit identity vectors, cosine = identity similarity."""

    def __init__(self, net: EyesNet, *, threshold: float, name: str = NAME, device: str = "cpu") -> None:
        self.net = net.eval().to(device)
        self.identity_threshold = threshold  # cosine from which two images read as the same character
        self.name = name
        self.device = torch.device(device)

    @classmethod
    def from_folder(cls, folder: Path = EYES_DIR, *, device: str = "cpu", name: str = NAME) -> TinyWorldEmbedder:
        """Load `config.json` and `model.safetensors` from `folder` (the committed weights by default)."""
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        net = EyesNet(tuple(config["widths"]), int(config["dim"]))
        state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        net.load_state_dict(state)
        return cls(net, threshold=float(config["identity_threshold"]), name=name, device=device)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        with torch.inference_mode():
            for start in range(0, len(images), _BATCH):
                pixels = to_pixels(images[start : start + _BATCH]).to(self.device)
                rows.append(self.net(pixels).float().cpu().numpy())
        if not rows:
            return np.zeros((0, self.net.head[-1].out_features), dtype=np.float32)
        return np.concatenate(rows)

    def similarity(self, a: Sequence[Image.Image], b: Sequence[Image.Image]) -> np.ndarray:
        """Cosine of a[i] and b[i], for each pair."""
        return (self.embed(a) * self.embed(b)).sum(axis=1)

    def same_identity(self, a: Sequence[Image.Image], b: Sequence[Image.Image]) -> list[bool]:
        """Whether a[i] and b[i] show the same character, by the threshold the build calibrated."""
        return [bool(s >= self.identity_threshold) for s in self.similarity(a, b)]


def identity_threshold(same: np.ndarray, different: np.ndarray) -> float:
    """The cosine that best separates same-character pairs from different ones (fewest errors on both)."""
    candidates = np.unique(np.concatenate([same, different]))
    best, best_errors = 0.5, None
    for t in candidates:
        errors = int((same < t).sum() + (different >= t).sum())
        if best_errors is None or errors < best_errors:
            best, best_errors = float(t), errors
    return best


def state_for_saving(net: EyesNet) -> dict[str, Any]:
    """The weights as fp16 tensors (half the file; the embeddings move by less than 1e-3)."""
    return {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
