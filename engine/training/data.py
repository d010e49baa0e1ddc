"""The training images prepared once: each resized to cover its aspect bucket, encoded, cached.

VAE latents are cached as the distribution's mean and std (a fresh sample each step costs nothing), text
as the encoders' outputs, plus the empty caption's (caption dropout swaps it in). The order of batches
is a pure function of (seed, epoch): a run resumes from its step number alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from engine.errors import InvalidRequest
from engine.families.registry import family_of
from engine.training.recipes import Recipe
from engine.training.types import TrainItem


@dataclass
class Prepared:
    """The cached dataset: per item its bucket, latent mean/std, conditioning and SDXL size info."""

    buckets: list[tuple[int, int]]  # (width, height) per item
    means: list[torch.Tensor]
    stds: list[torch.Tensor]
    texts: list[dict[str, torch.Tensor]]
    empty: dict[str, torch.Tensor]  # the empty caption's conditioning
    sizes: list[tuple[int, int, int, int, int, int]]  # orig h, orig w, crop top, crop left, target h, target w
    captions: list[str]  # as given: encoded every step when the text encoder trains too

    def batches(self, seed: int, epoch: int, batch_size: int) -> list[list[int]]:
        """The epoch's batches: items of one bucket each, shuffled from (seed, epoch) only."""
        rng = np.random.default_rng([seed, epoch])
        by_bucket: dict[tuple[int, int], list[int]] = {}
        for index, bucket in enumerate(self.buckets):
            by_bucket.setdefault(bucket, []).append(index)
        batches: list[list[int]] = []
        for bucket in sorted(by_bucket):
            members = [by_bucket[bucket][i] for i in rng.permutation(len(by_bucket[bucket]))]
            batches += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]


def buckets_for(resolution: int, multiple: int = 8) -> list[tuple[int, int]]:
    """Aspect buckets of about `resolution`² pixels: sides in steps of 64 (of `multiple` for tiny models, 16 for
    FLUX's packed latents), at most 2:1."""
    step = 64 if resolution >= 256 else max(8, multiple)
    area = resolution * resolution
    found: set[tuple[int, int]] = set()
    width = step * max(1, math.ceil(resolution / 2 / step))
    while width <= resolution * 2:
        height = (area // width) // step * step
        if height >= step and max(width, height) <= 2 * min(width, height):
            found.add((width, height))
        width += step
    found.add((resolution, resolution))
    return sorted(found)


def nearest_bucket(width: int, height: int, buckets: list[tuple[int, int]]) -> tuple[int, int]:
    aspect = width / height
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - math.log(aspect)), -b[0] * b[1]))


def _load(item: TrainItem) -> Image.Image:
    try:
        with Image.open(item.path) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except OSError as exc:
        raise InvalidRequest(f"Training image {item.path.name} could not be read; remove it from the set.") from exc


def _fit(image: Image.Image, bucket: tuple[int, int]) -> tuple[Image.Image, int, int]:
    """Resize to cover the bucket and centre-crop; returns the image and the crop's (top, left)."""
    width, height = bucket
    scale = max(width / image.width, height / image.height)
    resized = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height)), top, left


def prepare(pipe: Any, recipe: Recipe, items: tuple[TrainItem, ...], resolution: int, device: torch.device) -> Prepared:
    """Encode every image and caption once (the VAE in fp32: SDXL's overflows in fp16)."""
    buckets = buckets_for(resolution, family_of(recipe.family).bucket_step)
    vae = pipe.vae
    dtype = vae.dtype
    upcast = dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    if upcast:
        vae.to(torch.float32)  # as the pipelines do for a decode, and back once the latents are cached
    try:
        means, stds, chosen, sizes = _encode_images(vae, items, buckets, device)
        with torch.no_grad():
            texts = recipe.encode(pipe, [item.caption for item in items], device)
            (empty,) = recipe.encode(pipe, [""], device)
    finally:
        if upcast:
            vae.to(dtype)
    return Prepared(chosen, means, stds, texts, empty, sizes, [item.caption for item in items])


def _encode_images(
    vae: Any, items: tuple[TrainItem, ...], buckets: list[tuple[int, int]], device: torch.device
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[int, int]], list[tuple[int, int, int, int, int, int]]]:
    means, stds, chosen, sizes = [], [], [], []
    with torch.no_grad():
        for item in items:
            image = _load(item)
            bucket = nearest_bucket(image.width, image.height, buckets)
            fitted, top, left = _fit(image, bucket)
            pixels = torch.from_numpy(np.asarray(fitted, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
            dist = vae.encode(pixels.to(device=device, dtype=vae.dtype)).latent_dist
            means.append(dist.mean[0].float().cpu())
            stds.append(dist.std[0].float().cpu())
            chosen.append(bucket)
            sizes.append((image.height, image.width, top, left, bucket[1], bucket[0]))
    return means, stds, chosen, sizes
