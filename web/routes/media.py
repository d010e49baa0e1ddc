"""Image files by id: `/media/images/{id}` and its WebP thumbnail, access checked on every hit (ids are sequential).

Images never change once written: answers are cacheable for a year (`immutable`), carry an ETag, and an
`If-None-Match` that matches is answered 304 with no body (Starlette's FileResponse would send it all again).
HEAD is answered as GET without the body.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from studio.errors import NotFound
from web.deps import Authenticated, Bundle, Sees

router = APIRouter(prefix="/media", tags=["media"], dependencies=Authenticated)

CACHE = "private, max-age=31536000, immutable"  # private: each user's images are theirs


async def _file(request: Request, image_id: int, path: Path) -> Response:
    try:
        stat = await asyncio.to_thread(os.stat, path)
    except FileNotFoundError:
        raise NotFound(f"Image {image_id}'s file is gone from the server.") from None
    response = FileResponse(path, stat_result=stat, headers={"Cache-Control": CACHE})
    etag = response.headers["etag"]
    sent = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in sent.split(",")) or sent.strip() == "*":
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE})
    return response


@router.get("/images/{image_id}", response_class=FileResponse)
@router.head("/images/{image_id}", include_in_schema=False)
async def image(image_id: int, request: Request, bundle: Bundle, viewer: Sees) -> Response:
    """The image file as the engine wrote it (PNG, with its parameters in the metadata)."""
    card = await bundle.gallery.image(viewer, image_id)  # whoever may see it in the gallery, else 404
    return await _file(request, image_id, card.path)


@router.get("/images/{image_id}/thumb", response_class=FileResponse)
@router.head("/images/{image_id}/thumb", include_in_schema=False)
async def thumbnail(image_id: int, request: Request, bundle: Bundle, viewer: Sees) -> Response:
    """A WebP thumbnail (256 px on its longer side), made on first request and kept."""
    return await _file(request, image_id, await bundle.thumbnails.thumbnail(viewer, image_id))
