"""What the adapters may ask for besides an image's file: its thumbnail, checked against who looks as the gallery is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from studio.gallery.api import DeletedImages, Viewer

THUMB_PX = 256  # the longer side of an image's thumbnail


class ThumbnailsApi(Protocol):
    async def thumbnail(self, viewer: Viewer, image_id: int) -> Path:
        """A small WebP of the image (THUMB_PX on its longer side), made once and kept on disk; NotFound when the
        viewer may not see the image (`GalleryApi.image`), or its file is gone."""
        ...

    async def delete_images(self, viewer: Viewer, image_ids: Sequence[int]) -> DeletedImages:
        """`GalleryApi.delete`, and the deleted images' thumbnails with them (all or none, as there)."""
        ...
