"""Where a Z-Image pipeline's weights go on a GPU, from its free memory (pure arithmetic: no torch here).

Z-Image Turbo in bf16 is a 6.15 B transformer (11.46 GiB), a Qwen3-4B text encoder (7.49 GiB) and the FLUX.1 VAE
(0.16 GiB; 0.31 GiB in fp32), 19.1 GiB in all (the sizes of the published bf16 files; see `ZIMAGE_TURBO`). Whole, it
wants a 24 GB card; with model CPU offload only the largest component sits on the GPU at a time (the text encoder
runs first and goes back to host memory), which is how the model card's "fits within 16 GB" holds. Below that, the
layers stream one by one. The working memory is estimated from the transformer's widths, not measured yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Offload = Literal["none", "model", "sequential"]

# The VAE and headroom estimates of engine.diffusion.device, repeated so that the catalog can plan without torch.
# One image's transformer activations per megapixel: no classifier-free guidance, SDPA attention; the feed-forward's
# 10 240-wide hidden states over ~4 200 tokens dominate (estimated from the config, not measured yet).
DENOISER_GB_PER_MP = 0.35
VAE_DECODE_GB_PER_MP = 2.5
VAE_TILE_MP = 512 * 512 / 1e6
HEADROOM_GB = 0.75


@dataclass(frozen=True)
class ZImageSizes:
    """The pipeline's weights by component, in GiB at the run precision."""

    transformer_gb: float
    text_encoder_gb: float
    vae_gb: float

    @property
    def total_gb(self) -> float:
        return self.transformer_gb + self.text_encoder_gb + self.vae_gb

    @property
    def largest_gb(self) -> float:
        return max(self.transformer_gb, self.text_encoder_gb, self.vae_gb)


# Z-Image Turbo's bf16 files: 6.15 B and 4.02 B parameters × 2 bytes; the VAE's 83.8 M parameters.
ZIMAGE_TURBO = ZImageSizes(transformer_gb=11.46, text_encoder_gb=7.49, vae_gb=0.16)


@dataclass(frozen=True)
class ZImagePlan:
    """How to hold the model for one job's size: offload mode, VAE switches, and why."""

    cpu_offload: Offload
    vae_slicing: bool
    vae_tiling: bool
    reason: str


def plan_zimage_memory(free_gb: float, *, width: int, height: int, count: int, sizes: ZImageSizes) -> ZImagePlan:
    """The cheapest way to hold `sizes` and decode `count` images of width×height in `free_gb` GiB."""
    if width <= 0 or height <= 0 or count <= 0:
        raise ValueError(f"width, height and count must be positive, got {width}x{height}x{count}")
    mp = width * height / 1e6
    work = DENOISER_GB_PER_MP * mp * count + HEADROOM_GB
    batch, one, tile = (VAE_DECODE_GB_PER_MP * m for m in (mp * count, mp, min(mp, VAE_TILE_MP)))
    size = f"{count}×{width}x{height}"
    holds: tuple[tuple[float, Offload], ...] = ((sizes.total_gb, "none"), (sizes.largest_gb, "model"))
    for weights, offload in holds:
        for vae, slicing, tiling in ((batch, False, False), (one, count > 1, False), (tile, count > 1, True)):
            need = weights + work + vae
            if need <= free_gb:
                how = "whole on the GPU" if offload == "none" else "one component on the GPU at a time"
                return ZImagePlan(offload, slicing, tiling, f"{size} needs ~{need:.1f} GiB of {free_gb:.1f}: {how}")
    return ZImagePlan(
        "sequential", count > 1, True, f"even the transformer with {size} exceeds {free_gb:.1f} GiB: layer by layer"
    )


def smallest_gpu_for(offload: Offload, sizes: ZImageSizes = ZIMAGE_TURBO, side: int = 1024) -> float:
    """The free GiB from which one side×side image runs with `offload` (VAE tiled), for the /models note."""
    mp = side * side / 1e6
    weights = sizes.total_gb if offload == "none" else sizes.largest_gb
    return weights + DENOISER_GB_PER_MP * mp + HEADROOM_GB + VAE_DECODE_GB_PER_MP * min(mp, VAE_TILE_MP)
