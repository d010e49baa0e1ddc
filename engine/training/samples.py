"""Fixed-seed samples at each checkpoint, and the consistency score the character workflow promises.

No mainstream trainer measures consistency: here it is the mean pairwise cosine similarity of the samples'
image embeddings (CLIP), and their mean similarity to the training images' centre (trainer notes §7.2).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.images.output import make_grid
from engine.work import OutputFile

if TYPE_CHECKING:
    from engine.training.trainer import Trainer
    from engine.training.types import TrainItem
    from engine.vision.embedder import ImageEmbedder

log = logging.getLogger(__name__)


@dataclass
class Shot:
    grid: Image.Image | None
    consistency: float | None
    likeness: float | None


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def consistency_scores(samples: np.ndarray, centre: np.ndarray | None) -> tuple[float | None, float | None]:
    """(mean pairwise cosine among the samples, mean cosine of the samples to the training centre)."""
    e = _normalised(samples)
    pairwise = None
    if len(e) >= 2:
        sims = e @ e.T
        upper = sims[np.triu_indices(len(e), k=1)]
        pairwise = float(upper.mean())
    likeness = None
    if centre is not None:
        c = _normalised(centre[None, :])[0]
        likeness = float((e @ c).mean())
    return pairwise, likeness


class Samples:
    """Draws a run's samples with the pipeline it trains on; scores them when an image embedder is at hand."""

    def __init__(self, embedder: Callable[[], ImageEmbedder | None], guidance: float, scheduler: str) -> None:
        self._embedder_fn = embedder
        self._embedder: ImageEmbedder | None = None
        self._asked = False
        self._guidance = guidance
        self._scheduler = scheduler
        self._centre: np.ndarray | None = None

    def _embed(self, images: Sequence[Image.Image]) -> np.ndarray | None:
        if not self._asked:
            self._asked = True
            try:
                self._embedder = self._embedder_fn()
            except Exception as exc:  # no CLIP weights here: the run goes on without scores
                log.warning("no consistency scores for this run: %s", exc)
        if self._embedder is None or not images:
            return None
        return np.asarray(self._embedder.embed(list(images)))

    def reference(self, items: Sequence[TrainItem]) -> None:
        """Embed the training images once: their centre is what the samples should look like."""
        images = []
        for item in items:
            try:
                with Image.open(item.path) as img:
                    images.append(img.convert("RGB"))
            except OSError:
                continue
        vectors = self._embed(images)
        if vectors is not None and len(vectors):
            self._centre = _normalised(vectors).mean(axis=0)

    def draw(self, trainer: Trainer, step: int) -> Shot:
        """The checkpoint's samples: the same prompts and seeds every time, with the LoRA as it is now."""
        import torch

        from engine.diffusion.schedulers import make_scheduler

        cfg = trainer.config
        if not cfg.sample_prompts:
            return Shot(None, None, None)
        pipe: Any = trainer.pipe
        trainer.unet.eval()
        pipe.disable_lora()  # other LoRAs off (text encoder included), then the training adapter alone
        trainer.activate_adapter()
        pipe.scheduler = make_scheduler(self._scheduler, pipe.scheduler.config)
        generators = [torch.Generator("cpu").manual_seed(cfg.seed + i) for i in range(len(cfg.sample_prompts))]
        output = pipe(
            prompt=list(cfg.sample_prompts),
            num_inference_steps=cfg.sample_steps,
            guidance_scale=self._guidance,
            width=cfg.resolution,
            height=cfg.resolution,
            generator=generators,
            output_type="pil",
        )
        images = list(output.images)
        vectors = self._embed(images)
        consistency = likeness = None
        if vectors is not None:
            consistency, likeness = consistency_scores(vectors, self._centre)
        return Shot(make_grid(images), consistency, likeness)

    def at_scales(self, trainer: Trainer, scales: Sequence[float]) -> Image.Image | None:
        """The first sample prompt at each LoRA scale, same seed: too strong freezes faces, too weak loses likeness."""
        import torch

        cfg = trainer.config
        if not cfg.sample_prompts:
            return None
        pipe: Any = trainer.pipe
        trainer.unet.eval()
        pipe.disable_lora()
        images = []
        for scale in scales:
            trainer.unet.enable_adapters()
            trainer.unet.set_adapters([trainer.task.adapter], weights=[scale])
            output = pipe(
                prompt=cfg.sample_prompts[0],
                num_inference_steps=cfg.sample_steps,
                guidance_scale=self._guidance,
                width=cfg.resolution,
                height=cfg.resolution,
                generator=torch.Generator("cpu").manual_seed(cfg.seed),
                output_type="pil",
            )
            images.append(output.images[0])
        trainer.activate_adapter()
        return make_grid(images)

    @staticmethod
    def file(path: Path) -> OutputFile:
        data = path.read_bytes()
        return OutputFile(path, hashlib.sha256(data).hexdigest(), len(data))
