"""The character sheet's best picks: ranked by likeness to the reference, each image embedded once."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from engine.tasks.sheet import BestPicks
from engine.vision.embedder import EmbedderUnavailable


class _Embedder:
    """Embeds an image as its mean colour, and counts the images it was given."""

    def __init__(self) -> None:
        self.seen = 0

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        self.seen += len(images)
        return np.stack([np.asarray(image, dtype=np.float64).mean(axis=(0, 1)) for image in images])


class _Host:
    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder

    def embedder(self) -> Any:
        if isinstance(self._embedder, Exception):
            raise self._embedder
        return self._embedder


def _colour(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (8, 8), rgb)


def test_picks_the_panels_most_like_the_reference_and_embeds_each_image_once() -> None:
    embedder = _Embedder()
    picks = BestPicks(_Host(embedder), _colour((250, 10, 10)))  # type: ignore[arg-type]
    made = [_colour((10, 10, 250)), _colour((240, 30, 20)), _colour((10, 250, 10)), _colour((200, 60, 40))]
    for count in range(1, len(made) + 1):
        best = picks(made[:count], 2)
    assert best == [made[1], made[3]]  # the two reds, the closer first
    assert embedder.seen == 1 + len(made)  # the reference and each panel once, however often it was asked


def test_without_an_embedder_the_sheet_keeps_the_reference_alone() -> None:
    picks = BestPicks(_Host(EmbedderUnavailable("no weights")), _colour((250, 10, 10)))  # type: ignore[arg-type]
    assert picks([_colour((240, 30, 20))], 2) == []
    assert picks([], 2) == [] and picks([_colour((0, 0, 0))], 0) == []
