"""Images by id for a front door that serves their files: access checked on every call, thumbnails kept on disk."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from PIL import Image

from storage import Database
from storage.records import ImageRecord
from studio.contract import Caller
from studio.errors import NotFound
from studio.images.api import THUMB_PX, ResultImage
from studio.images.images import result_image
from studio.images.thumbs import thumbnail_path
from studio.jobs.listing import may_see


class ImageFiles:
    """Implements `ImageFilesApi`: `thumbs_dir` keeps one WebP per image (`studio.images.thumbs`)."""

    def __init__(self, db: Database, thumbs_dir: Path) -> None:
        self._db = db
        self._thumbs = thumbs_dir

    async def job_images(self, caller: Caller, job_id: int) -> tuple[ResultImage, ...]:
        job = await self._db.jobs.get(job_id)
        if job is None or not may_see(caller, job):
            raise NotFound(f"There is no job {job_id} of yours.")
        return tuple(result_image(image) for image in await self._db.images.for_job(job_id))

    async def _record(self, caller: Caller, image_id: int) -> ImageRecord:
        image = await self._db.images.get(image_id)
        job = None if image is None else await self._db.jobs.get(image.job_id)
        if image is None or job is None or not may_see(caller, job):
            raise NotFound(f"There is no image {image_id} of yours.")
        if not await asyncio.to_thread(image.path.is_file):
            raise NotFound(f"Image {image_id}'s file is gone from the server.")
        return image

    async def image(self, caller: Caller, image_id: int) -> ResultImage:
        return result_image(await self._record(caller, image_id))

    async def thumbnail(self, caller: Caller, image_id: int) -> Path:
        image = await self._record(caller, image_id)
        target = thumbnail_path(self._thumbs, image.path)
        # Pixels off the event loop: a large PNG takes tens of milliseconds to decode and shrink.
        await asyncio.to_thread(_make_thumbnail, image.path, target)
        return target


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
