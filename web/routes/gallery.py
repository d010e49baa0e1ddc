"""The gallery's API: browse and search images, an image's details, ⭐, delete one's own, a zip of a selection, and
the caller's jobs (history). Every image is asked of `GalleryApi` with the caller as viewer: unseen is 404."""

from __future__ import annotations

import asyncio
import os
import tempfile
import zipfile
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from studio.gallery.api import DEFAULT_PAGE, MAX_PAGE, MAX_SEARCH, ImageFilter, Scope
from web.deps import Authenticated, Bundle, Sees
from web.gallery_schemas import (
    CardOut,
    DeletedOut,
    DetailOut,
    HistoryEntryOut,
    HistoryOut,
    ImageIdsIn,
    ImagesPageOut,
)
from web.schemas import Done

router = APIRouter(prefix="/api", tags=["gallery"], dependencies=Authenticated)


@router.get("/images", response_model=ImagesPageOut)
async def images(
    bundle: Bundle,
    viewer: Sees,
    q: Annotated[str | None, Query(max_length=MAX_SEARCH, description="words the prompt holds")] = None,
    model: str | None = None,
    lora: str | None = None,
    since: datetime | None = None,
    until: Annotated[datetime | None, Query(description="exclusive")] = None,
    favourite: bool = False,
    collection: int | None = None,
    scope: Scope = "mine",
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> ImagesPageOut:
    """A page of images, newest first: `scope=mine` (yours) or `server` (this server's that you may see)."""
    filters = ImageFilter(
        scope=scope,
        text=q or None,
        model=model or None,
        lora=lora or None,
        since=since,
        until=until,
        favourites=favourite,
        collection_id=collection,
        before_id=before_id,
        limit=limit,
    )
    page = await bundle.gallery.images(viewer, filters)
    return ImagesPageOut(images=[CardOut.of(c) for c in page.images], next_before_id=page.next_before_id)


@router.get("/images/{image_id}", response_model=DetailOut)
async def detail(image_id: int, bundle: Bundle, viewer: Sees) -> DetailOut:
    """Everything about an image: its parameters, where it was posted, the sets and collections it is in."""
    return DetailOut.of(await bundle.gallery.detail(viewer, image_id))


@router.delete("/images", response_model=DeletedOut)
async def delete(body: ImageIdsIn, bundle: Bundle, viewer: Sees) -> DeletedOut:
    """Delete your own images (all or none), their files and thumbnails; training sets keep their copies."""
    deleted = await bundle.thumbnails.delete_images(viewer, body.image_ids)
    return DeletedOut(image_ids=list(deleted.image_ids), files=deleted.files)


@router.put("/images/{image_id}/favourite", response_model=Done)
async def star(image_id: int, bundle: Bundle, viewer: Sees) -> Done:
    """⭐ an image you may see (your stars are yours alone)."""
    await bundle.collections.favourite(viewer, image_id, True)
    return Done()


@router.delete("/images/{image_id}/favourite", response_model=Done)
async def unstar(image_id: int, bundle: Bundle, viewer: Sees) -> Done:
    await bundle.collections.favourite(viewer, image_id, False)
    return Done()


class TemporaryFileResponse(FileResponse):
    """A file made for this one response, removed however the sending ends: sent whole, the client gone mid-way
    (the server's send raises), or the request cancelled. A background task would run only in the first case."""

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: in a cancelled request every other await here would be cancelled too.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(partial(Path(self.path).unlink, missing_ok=True))


@router.post("/images/zip", response_class=FileResponse)
async def download_zip(body: ImageIdsIn, bundle: Bundle, viewer: Sees) -> FileResponse:
    """A zip of the picked images (only images you may see: any other id is 404, and nothing is sent)."""
    cards = [await bundle.gallery.image(viewer, image_id) for image_id in dict.fromkeys(body.image_ids)]
    files = [(card.path, f"{card.image_id}-{card.job_id}-{card.index + 1}{card.path.suffix}") for card in cards]
    path = await asyncio.to_thread(_zip, files)  # compressing blocks: a thread, never the event loop
    return TemporaryFileResponse(path, media_type="application/zip", filename="studio-images.zip")


def _zip(files: list[tuple[Path, str]]) -> Path:
    handle, name = tempfile.mkstemp(prefix="studio-", suffix=".zip")
    os.close(handle)
    try:
        # PNGs are compressed already: stored, not deflated, is as small and much faster.
        with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_STORED) as archive:
            for source, arcname in files:
                if source.is_file():
                    archive.write(source, arcname)
    except BaseException:
        os.unlink(name)  # a full disk or an unreadable image: no half-written zip left behind
        raise
    return Path(name)


@router.get("/history", response_model=HistoryOut)
async def history(
    bundle: Bundle,
    viewer: Sees,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> HistoryOut:
    """Your jobs of every kind, newest first, with their status and parameters (🔄 is `POST /api/jobs/{id}/reroll`)."""
    page = await bundle.gallery.history(viewer, before_id, limit)
    return HistoryOut(jobs=[HistoryEntryOut.of(e) for e in page.jobs], next_before_id=page.next_before_id)
