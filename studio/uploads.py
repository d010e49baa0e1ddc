"""Uploaded images and masks: checked and stored off the event loop, refused with the reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine import ImageRejected, Upload, store_mask, store_upload
from studio.errors import StudioError


class Uploads:
    """Where uploads go, and how big they may be."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    async def image(self, data: bytes, folder: Path | None = None) -> Upload:
        """Check and store an image upload (in `folder`, default the uploads folder); StudioError on refusal."""
        try:
            return await asyncio.to_thread(store_upload, data, folder or self.folder, self.max_bytes)
        except ImageRejected as exc:
            raise StudioError(str(exc)) from None

    async def mask(self, data: bytes, size: tuple[int, int]) -> Path:
        """Check an uploaded mask and store it at `size`; StudioError with the reason on refusal."""
        try:
            return await asyncio.to_thread(store_mask, data, self.folder, self.max_bytes, size)
        except ImageRejected as exc:
            raise StudioError(f"Mask: {exc}") from None
