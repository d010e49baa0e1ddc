"""Uploaded images and masks, checked and stored normalised (blocking: call through `asyncio.to_thread`).

Images are stored as `<folder>/<sha256 of the upload>.png`: RGB, EXIF orientation applied, at most
2048 px a side. Two users who upload the same bytes share one file (the deletion of user data knows).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from engine.catalog import ModelSpec
from engine.images.input import fit_size, load_image, open_checked

MAX_UPLOAD_PIXELS = 4096 * 4096  # checked from the header, before decoding
MAX_STORED_SIDE = 2048  # no model here works on more; smaller files, faster jobs


@dataclass(frozen=True)
class Upload:
    """A checked upload, stored normalised."""

    path: Path
    width: int
    height: int


def _save_png(image: Image.Image, path: Path) -> None:
    if path.exists():  # content-addressed: the same bytes were stored before
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)


def store_upload(data: bytes, folder: Path, max_bytes: int) -> Upload:
    """Check an upload (type by content, bytes, pixels, decode) and store it normalised; ImageRejected on refusal."""
    image = load_image(data, max_bytes=max_bytes, max_pixels=MAX_UPLOAD_PIXELS)
    if max(image.size) > MAX_STORED_SIDE:
        image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
    path = folder / f"{hashlib.sha256(data).hexdigest()}.png"
    _save_png(image, path)
    return Upload(path, image.width, image.height)


def store_mask(data: bytes, folder: Path, max_bytes: int, size: tuple[int, int]) -> Path:
    """Check an uploaded mask and store it as a binary mask of `size` (white = change)."""
    from engine.vision.masks import mask_from_upload  # torch: imported only when a mask is uploaded

    mask = mask_from_upload(open_checked(data, max_bytes=max_bytes, max_pixels=MAX_UPLOAD_PIXELS), size)
    digest = hashlib.sha256(data).hexdigest()[:40]
    path = folder / f"mask-{digest}-{size[0]}x{size[1]}.png"
    _save_png(mask, path)
    return path


def model_size(width: int, height: int, spec: ModelSpec) -> tuple[int, int]:
    """The image's aspect at the model's default area, in the model's size steps and bounds."""
    preset = spec.preset
    area = preset.default_size[0] * preset.default_size[1]
    w, h = fit_size(width, height, area, preset.size_step)
    return (max(preset.min_side, min(preset.max_side, w)), max(preset.min_side, min(preset.max_side, h)))
