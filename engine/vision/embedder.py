"""Image embedders: one vector per image, for the training-set outlier check, consistency and likeness scores.

`ClipEmbedder` wraps a CLIP vision tower with its projection (e.g. openai/clip-vit-base-patch32);
`tiny_clip_embedder` builds a tiny one with random weights, offline, for tests. The tiny-world model has eyes of
its own, trained on its world (`engine.tiny.world.eyes.TinyWorldEmbedder`, catalog id `tiny-world-eyes`).
torch and transformers are imported inside the functions, so importing this module (for the Protocol) stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from engine.vision.catalog import pretrained

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

_BATCH = 16  # images per forward pass: bounded memory for large sets


class EmbedderUnavailable(RuntimeError):
    """The embedder's weights cannot be found locally; the message says how to provide them."""


@runtime_checkable
class ImageEmbedder(Protocol):
    """Anything that turns RGB images into one vector each."""

    name: str

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """An (N, D) float array, one row per image, in order."""
        ...


class ClipEmbedder:
    """CLIP image embeddings (`CLIPVisionModelWithProjection.image_embeds`)."""

    def __init__(self, model: Any, processor: Any, *, name: str, device: str = "cpu") -> None:
        import torch

        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(
        cls, source: str | Path, *, offline: bool = True, device: str = "cpu", name: str | None = None
    ) -> ClipEmbedder:
        """Load from a local folder or a hub id already in the cache (safetensors only).

        A full CLIP checkpoint works too: only its vision tower and projection are loaded.
        """
        from transformers import CLIPVisionModelWithProjection

        processor, model = pretrained(
            source,
            _processor_class(),
            CLIPVisionModelWithProjection,
            offline=offline,
            unavailable=EmbedderUnavailable,
            what="CLIP image embedder",
            note="The other training-set checks run without it.",
        )
        return cls(model.to(device), processor, name=name or str(source), device=device)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        rows = []
        with torch.inference_mode():
            for start in range(0, len(images), _BATCH):
                batch = [image.convert("RGB") for image in images[start : start + _BATCH]]
                pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
                pixels = pixels.to(self.device, dtype=self.model.dtype)
                rows.append(self.model(pixel_values=pixels).image_embeds.float().cpu().numpy())
        if not rows:
            return np.zeros((0, int(self.model.config.projection_dim)), dtype=np.float32)
        return np.concatenate(rows)


def _processor_class() -> Any:
    try:
        from transformers import CLIPImageProcessorPil  # without torchvision, and without its warning
    except ImportError:  # pragma: no cover - older or torchvision-backed layouts
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor
    return CLIPImageProcessorPil


def tiny_clip_embedder(seed: int = 0) -> ClipEmbedder:
    """A CLIP vision tower built from config with random weights under `seed`: offline, deterministic.

    Its vectors mean nothing about identity; it exercises the real code path in seconds
    (sizes from the trainer notes §7.2).
    """
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        image_size=32,
        patch_size=4,
        projection_dim=16,
    )
    processor = _processor_class()(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(config)
    return ClipEmbedder(model, processor, name="tiny-clip")
