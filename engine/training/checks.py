"""Training-set checks: what would spoil a LoRA, found per image before training (blocking; numpy + PIL).

Each image is read once, measured (size, perceptual hashes, sharpness, exposure, optionally an
embedding), then judged against the rest of the set. The thresholds come from the measurements in the
trainer notes §7 (cited as "notes"); each is a named constant below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.images.input import flatten_to_rgb
from engine.work import ImageFinding

if TYPE_CHECKING:
    from engine.vision.embedder import ImageEmbedder

log = logging.getLogger(__name__)

CODES = ("unreadable", "small", "duplicate", "blurry", "dark", "bright", "flat", "outlier")

ANALYSIS_SIDE = 512  # notes: blur measured on grayscale at long side 512 (never upscaled here)
EMBED_SHORT_SIDE = 256  # enough for CLIP's 224 px crop; keeps set-sized memory small
# Duplicates, notes: a re-encode/resize/brighten is at phash distance 2, a 10 % crop at 16, a flip at 32
# (hence the mirror's hash), unrelated images at 28–38. 8 catches re-encodes, not crops or new photos.
DUPLICATE_DISTANCE = 8
# Blur, notes: Laplacian variance sharp 2612, Gaussian r=1 28.5, r=2 3.8, 4× upscale 5.3. Absolute values
# depend on content, so rank within the set; the floor catches heavy blur even in a small or all-soft set.
BLUR_RATIO = 0.2  # below 0.2× the set's median
BLUR_FLOOR = 10.0  # between r=1 (28.5) and r=2 / upscales (3.8–5.3)
BLUR_MIN_SET = 3  # a median of fewer readable images means little
# Exposure on luma in [0, 1], notes: normal mean 0.50 / std 0.23, darkened ×0.25 mean 0.125,
# low contrast std 0.045, brightened ×2.5 clips 16.5 % (so "bright" leans on the mean, not clipping alone).
DARK_MEAN, BRIGHT_MEAN = 0.15, 0.85
CLIP_LOW, CLIP_HIGH = 0.02, 0.98  # a pixel this dark / bright counts as clipped
CLIPPED_SHARE = 0.5  # half the picture clipped is dark / bright whatever the mean
FLAT_STD = 0.05  # between low contrast (0.045) and normal (0.23)
# Identity outliers, notes §7.2: cosine to the leave-one-out centroid, robust z = (s − median) / (1.4826·MAD).
# Measured here on simulated 512-d clusters (cosine to the set's centre 0.78-0.90, sets of 5-40): the notes'
# −3 flags an image in 14 % of clean sets, −3.5 in 6-8 %; both catch a planted stranger every time (800 sets).
# To be tuned once real CLIP weights are at hand.
OUTLIER_Z = -3.5
OUTLIER_MIN_SET = 5
MAD_FLOOR = 1e-6  # all cosines equal (MAD 0): only a real difference counts, not float noise

# What a file may throw while being opened or decoded.
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Exposure:
    """Luma statistics in [0, 1]."""

    mean: float
    std: float
    clipped_low: float  # share of pixels ≤ CLIP_LOW
    clipped_high: float  # share of pixels ≥ CLIP_HIGH


@dataclass(frozen=True)
class Reading:
    """What one readable image measures."""

    size: tuple[int, int]  # the original, upright size
    hashes: tuple[imagehash.ImageHash, imagehash.ImageHash]  # phash of the image and of its mirror
    sharpness: float  # Laplacian variance at ANALYSIS_SIDE
    exposure: Exposure


def read_rgb(path: Path) -> tuple[Image.Image, tuple[int, int]] | None:
    """The upright RGB picture (JPEG decoded at a reduced scale when large) and its full size; None if unreadable."""
    try:
        with Image.open(path) as img:
            if getattr(img, "is_animated", False):
                img.seek(0)
            width, height = img.size
            if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that turn the picture 90°
                width, height = height, width
            # A JPEG can decode at 1/2..1/8 scale for free; the checks only need ANALYSIS_SIDE.
            img.draft("RGB", (ANALYSIS_SIDE, ANALYSIS_SIDE))
            img.load()
            image = flatten_to_rgb(ImageOps.exif_transpose(img))
    except _READ_ERRORS as exc:
        log.debug("unreadable training image %s: %s", path, exc)
        return None
    if width <= 0 or height <= 0:
        return None
    return image, (width, height)


def grayscale(image: Image.Image) -> Image.Image:
    """Luma ('L'), shrunk to a long side of ANALYSIS_SIDE when larger."""
    gray = image.convert("L")
    scale = ANALYSIS_SIDE / max(gray.size)
    if scale < 1:
        gray = gray.resize(
            (max(1, round(gray.width * scale)), max(1, round(gray.height * scale))), Image.Resampling.LANCZOS
        )
    return gray


def laplacian_variance(image: Image.Image) -> float:
    """Sharpness: variance of the 4-neighbour Laplacian of the luma (0..255) at ANALYSIS_SIDE.

    Reflect padding, as notes measured equal to `cv2.Laplacian(gray, CV_64F).var()`.
    """
    gray = np.asarray(grayscale(image), dtype=np.float64)
    p = np.pad(gray, 1, mode="reflect") if min(gray.shape) > 1 else np.pad(gray, 1, mode="edge")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4.0 * gray
    return float(lap.var())


def exposure(image: Image.Image) -> Exposure:
    """Mean, contrast and clipping of the luma in [0, 1]."""
    y = np.asarray(grayscale(image), dtype=np.float64) / 255.0
    return Exposure(float(y.mean()), float(y.std()), float((y <= CLIP_LOW).mean()), float((y >= CLIP_HIGH).mean()))


def phash_pair(image: Image.Image) -> tuple[imagehash.ImageHash, imagehash.ImageHash]:
    """Perceptual hashes of the image and of its horizontal mirror (a flipped copy is a duplicate too)."""
    return imagehash.phash(image), imagehash.phash(ImageOps.mirror(image))


def measure(image: Image.Image, size: tuple[int, int]) -> Reading:
    gray = grayscale(image)
    return Reading(size, phash_pair(gray), laplacian_variance(gray), exposure(gray))


def outlier_scores(embeddings: np.ndarray) -> np.ndarray:
    """Robust z of each row's cosine to the leave-one-out centroid of the L2-normalised rows."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    others = e.sum(axis=0, keepdims=True) - e  # each row's centroid without itself (unnormalised)
    cosines = (e * others).sum(axis=1) / np.maximum(np.linalg.norm(others, axis=1), 1e-12)
    median = np.median(cosines)
    mad = np.median(np.abs(cosines - median))
    return (cosines - median) / (1.4826 * max(float(mad), MAD_FLOOR))


def outliers(embeddings: np.ndarray) -> list[bool]:
    """Which rows are unlike the rest (robust z < OUTLIER_Z); none for fewer than OUTLIER_MIN_SET rows."""
    if len(embeddings) < OUTLIER_MIN_SET:
        return [False] * len(embeddings)
    return [bool(z < OUTLIER_Z) for z in outlier_scores(embeddings)]


def check_images(
    paths: Sequence[Path],
    *,
    resolution: int,
    embedder: ImageEmbedder | None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ImageFinding, ...]:
    """One finding per path, in order. `progress(n, total)` is called after each image (it may raise to stop)."""
    embed = embedder is not None and len(paths) >= OUTLIER_MIN_SET
    readings: list[Reading | None] = []
    vectors: dict[int, np.ndarray] = {}
    for n, path in enumerate(paths, start=1):
        read = read_rgb(Path(path))
        if read is None:
            readings.append(None)
        else:
            image, size = read
            readings.append(measure(image, size))
            if embed:
                assert embedder is not None
                vectors[n - 1] = np.asarray(embedder.embed([_embed_copy(image)]))[0]
        if progress is not None:
            progress(n, len(paths))
    return _judge(readings, vectors, resolution)


def _embed_copy(image: Image.Image) -> Image.Image:
    scale = EMBED_SHORT_SIDE / min(image.size)
    if scale >= 1:
        return image
    return image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BICUBIC
    )


def _judge(readings: list[Reading | None], vectors: dict[int, np.ndarray], resolution: int) -> tuple[ImageFinding, ...]:
    notes: list[dict[str, str]] = [{} for _ in readings]
    readable = [i for i, r in enumerate(readings) if r is not None]
    sharp = [r.sharpness for r in readings if r is not None]
    median_sharp = float(np.median(sharp)) if len(sharp) >= BLUR_MIN_SET else None
    for i, r in enumerate(readings):
        found = notes[i]
        if r is None:
            found["unreadable"] = "could not be read as an image"
            continue
        if min(r.size) < resolution:
            found["small"] = f"too small ({r.size[0]}×{r.size[1]}; trains at {resolution})"
        duplicate = _earlier_duplicate(i, readings)
        if duplicate is not None:
            j, mirrored = duplicate
            found["duplicate"] = f"{'mirrored ' if mirrored else ''}near-duplicate of #{j + 1}"
        x = r.exposure
        if x.mean < DARK_MEAN or x.clipped_low >= CLIPPED_SHARE:
            found["dark"] = "too dark"
        elif x.mean > BRIGHT_MEAN or x.clipped_high >= CLIPPED_SHARE:
            found["bright"] = "too bright (overexposed)"
        elif x.std < FLAT_STD:
            found["flat"] = "flat (very low contrast)"
        # A dark or flat picture has weak edges whatever its focus: its exposure is the finding, not blur.
        if not found.keys() & {"dark", "bright", "flat"} and _blurry(r.sharpness, median_sharp):
            versus = f" vs {median_sharp:.0f} for the set" if median_sharp is not None else ""
            found["blurry"] = f"blurry (sharpness {r.sharpness:.0f}{versus})"
    if vectors and len(vectors) == len(readable) and len(readable) >= OUTLIER_MIN_SET:
        for i, flagged in zip(readable, outliers(np.stack([vectors[i] for i in readable])), strict=True):
            if flagged:
                notes[i]["outlier"] = "unlike the rest of the set (identity outlier)"
    return tuple(
        ImageFinding(i + 1, tuple(c for c in CODES if c in found), tuple(found[c] for c in CODES if c in found))
        for i, found in enumerate(notes)
    )


def _blurry(sharpness: float, median: float | None) -> bool:
    return sharpness < BLUR_FLOOR or (median is not None and sharpness < BLUR_RATIO * median)


def _earlier_duplicate(i: int, readings: list[Reading | None]) -> tuple[int, bool] | None:
    """The closest earlier image within DUPLICATE_DISTANCE (either orientation), and whether it is mirrored."""
    current = readings[i]
    assert current is not None
    best: tuple[int, int, bool] | None = None
    for j in range(i):
        earlier = readings[j]
        if earlier is None:
            continue
        for distance, mirrored in (
            (current.hashes[0] - earlier.hashes[0], False),
            (current.hashes[1] - earlier.hashes[0], True),
        ):
            if distance <= DUPLICATE_DISTANCE and (best is None or distance < best[0]):
                best = (distance, j, mirrored)
    return None if best is None else (best[1], best[2])
