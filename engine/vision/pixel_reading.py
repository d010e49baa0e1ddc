"""What the pixels alone say about an image: brightness, contrast, colours, composition, lighting, mood.

The readings /describe adds to a caption; numpy only, no model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

_ANALYSIS_SIDE = 128


@dataclass(frozen=True)
class PixelReading:
    """What the pixels alone say about an image (values in 0..1 unless noted)."""

    width: int
    height: int
    brightness: float
    contrast: float
    saturation: float
    edge_density: float
    colours: tuple[str, ...]  # dominant colour names, most common first

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def lighting(self) -> str:
        if self.brightness < 0.3:
            return "low-key lighting"
        if self.brightness < 0.45:
            return "dim moody lighting"
        if self.brightness > 0.72:
            return "bright high-key lighting"
        if self.brightness > 0.58:
            return "soft bright lighting"
        return "balanced natural lighting"

    @property
    def contrast_words(self) -> str:
        if self.contrast < 0.08:
            return "flat low contrast"
        if self.contrast > 0.28:
            return "dramatic high contrast"
        return "moderate contrast"

    @property
    def saturation_words(self) -> str:
        if self.saturation < 0.08:
            return "monochrome"
        if self.saturation < 0.25:
            return "muted colours"
        if self.saturation > 0.55:
            return "vivid saturated colours"
        return "natural colours"

    @property
    def composition(self) -> str:
        if self.aspect > 2.0:
            return "panoramic landscape composition"
        if self.aspect > 1.15:
            return "landscape composition"
        if self.aspect < 0.5:
            return "tall vertical portrait composition"
        if self.aspect < 0.87:
            return "portrait composition"
        return "square composition"

    @property
    def detail_words(self) -> str:
        if self.edge_density < 0.03:
            return "minimalist"
        if self.edge_density > 0.18:
            return "intricately detailed"
        return "detailed"

    @property
    def medium(self) -> str:
        """A guess at style and medium from colour count, saturation and texture."""
        if self.saturation < 0.08:
            return "black and white photograph" if self.edge_density > 0.03 else "monochrome minimalist print"
        if self.edge_density < 0.03:
            return "flat vector illustration" if self.saturation > 0.4 else "minimalist colour-field artwork"
        if self.saturation > 0.55 and self.edge_density > 0.18:
            return "vibrant digital painting"
        if self.saturation < 0.25:
            return "soft film photograph"
        return "photograph"

    @property
    def mood(self) -> str:
        bright, vivid = self.brightness > 0.55, self.saturation > 0.4
        if bright and vivid:
            return "cheerful energetic mood"
        if bright:
            return "calm airy mood"
        if self.brightness < 0.35 and not vivid:
            return "dark brooding atmosphere"
        if vivid:
            return "intense dramatic mood"
        return "quiet contemplative mood"

    @property
    def palette(self) -> str:
        names = list(self.colours) or ["neutral"]
        if len(names) == 1:
            return f"{names[0]} colour palette"
        return f"{', '.join(names[:-1])} and {names[-1]} colour palette"


def _colour_name(hue: float, sat: float, val: float) -> str:
    if val < 0.18:
        return "black"
    if sat < 0.18:
        if val > 0.85:
            return "white"
        return "grey" if val > 0.35 else "charcoal"
    degrees = hue * 360
    if degrees < 15 or degrees >= 345:
        return "red" if val > 0.45 else "maroon"
    if degrees < 45:
        return "orange" if val > 0.65 else "brown"
    if degrees < 70:
        return "yellow" if val > 0.5 else "olive"
    if degrees < 160:
        return "green"
    if degrees < 200:
        return "teal"
    if degrees < 255:
        return "blue"
    if degrees < 290:
        return "purple"
    return "pink" if val > 0.5 else "magenta"


def read_pixels(image: Image.Image) -> PixelReading:
    """Measure brightness, contrast, saturation, edge density and dominant colours."""
    rgb = image.convert("RGB")
    small = rgb.copy()
    small.thumbnail((_ANALYSIS_SIDE, _ANALYSIS_SIDE), Image.Resampling.BILINEAR)
    grey = np.asarray(small.convert("L"), dtype=np.float32) / 255.0
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    edges = np.asarray(small.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32)
    # FIND_EDGES marks the 1-pixel border of the image as an edge; leave the border out.
    inner = edges[1:-1, 1:-1] if min(edges.shape) > 2 else edges
    edge_density = float((inner > 40).mean()) if inner.size else 0.0

    # Name colours on a coarse grid of quantised HSV cells so the count is cheap and stable.
    cells = np.floor(hsv * np.array([24, 8, 8], dtype=np.float32)).astype(np.int32).reshape(-1, 3)
    cells = np.minimum(cells, [23, 7, 7])
    keys, counts = np.unique(cells, axis=0, return_counts=True)
    totals: dict[str, int] = {}
    for (h, s, v), n in zip(keys.tolist(), counts.tolist(), strict=True):
        name = _colour_name((h + 0.5) / 24, (s + 0.5) / 8, (v + 0.5) / 8)
        totals[name] = totals.get(name, 0) + n
    pixels = cells.shape[0]
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    colours = tuple(name for name, n in ranked if n / pixels >= 0.08)[:3] or (ranked[0][0],)
    return PixelReading(
        width=rgb.width,
        height=rgb.height,
        brightness=float(grey.mean()),
        contrast=float(grey.std()),
        saturation=float(hsv[..., 1].mean()),
        edge_density=edge_density,
        colours=colours,
    )
