"""Thumbnails for a front door that shows images by id: the gallery's access check, then a WebP kept on disk."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from studio.errors import NotFound
from studio.gallery.api import MAX_BATCH, DeletedImages, GalleryApi, Viewer
from studio.images.thumbnail_api import THUMB_PX
from studio.images.thumbs import thumbnail_path


class Thumbnails:
    """Implements `ThumbnailsApi`: `thumbs_dir` keeps one WebP per image (named by `studio.images.thumbs`)."""

    def __init__(self, gallery: GalleryApi, thumbs_dir: Path) -> None:
        self._gallery = gallery
        self._thumbs = thumbs_dir

    async def thumbnail(self, viewer: Viewer, image_id: int) -> Path:
        card = await self._gallery.image(viewer, image_id)  # NotFound unless the viewer may see it
        if not await asyncio.to_thread(card.path.is_file):
            raise NotFound(f"Image {image_id}'s file is gone from the server.")
        target = thumbnail_path(self._thumbs, card.path)
        # Pixels off the event loop: a large PNG takes tens of milliseconds to decode and shrink.
        await asyncio.to_thread(_make_thumbnail, card.path, target)
        return target

    async def delete_images(self, viewer: Viewer, image_ids: Sequence[int]) -> DeletedImages:
        # The files' names go with the rows: note where the thumbnails are before the gallery deletes the images.
        cards = [await self._gallery.image(viewer, image_id) for image_id in list(dict.fromkeys(image_ids))[:MAX_BATCH]]
        deleted = await self._gallery.delete(viewer, image_ids)
        thumbs = [thumbnail_path(self._thumbs, card.path) for card in cards]
        await asyncio.to_thread(_unlink, thumbs)
        return deleted


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _make_thumbnail(source: Path, target: Path) -> None:
    if target.is_file():
        return  # an image never changes once written, so neither does its thumbnail
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as img:
        img.thumbnail((THUMB_PX, THUMB_PX))
        # A name of its own per call: two requests for a new thumbnail may make it at once, in threads of one process.
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        img.convert("RGB").save(partial, format="WEBP", quality=80)
    partial.replace(target)  # atomic: a reader never sees half a file, two makers end with one
