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

from web.deps import Authenticated, Bundle, Who

router = APIRouter(prefix="/media", tags=["media"], dependencies=Authenticated)

CACHE = "private, max-age=31536000, immutable"  # private: each user's images are theirs


async def _file(request: Request, path: Path) -> Response:
    stat = await asyncio.to_thread(os.stat, path)
    response = FileResponse(path, stat_result=stat, headers={"Cache-Control": CACHE})
    etag = response.headers["etag"]
    sent = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in sent.split(",")) or sent.strip() == "*":
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE})
    return response


@router.get("/images/{image_id}", response_class=FileResponse)
@router.head("/images/{image_id}", include_in_schema=False)
async def image(image_id: int, request: Request, bundle: Bundle, caller: Who) -> Response:
    """The image file as the engine wrote it (PNG, with its parameters in the metadata)."""
    found = await bundle.image_files.image(caller, image_id)
    return await _file(request, found.path)


@router.get("/images/{image_id}/thumb", response_class=FileResponse)
@router.head("/images/{image_id}/thumb", include_in_schema=False)
async def thumbnail(image_id: int, request: Request, bundle: Bundle, caller: Who) -> Response:
    """A WebP thumbnail (256 px on its longer side), made on first request and kept."""
    return await _file(request, await bundle.image_files.thumbnail(caller, image_id))
