"""Collections: the caller's own named groups of images (private to them), and the images in them."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import Authenticated, Bundle, Sees
from web.gallery_schemas import CollectionOut, CountOut, ImageIdsIn, NameIn
from web.schemas import Done

router = APIRouter(prefix="/api", tags=["collections"], dependencies=Authenticated)


@router.get("/collections", response_model=list[CollectionOut])
async def collections(bundle: Bundle, viewer: Sees) -> list[CollectionOut]:
    """Your collections made in this server (or outside any), by name."""
    return [CollectionOut.of(c) for c in await bundle.collections.list(viewer)]


@router.post("/collections", response_model=CollectionOut, status_code=201)
async def create(body: NameIn, bundle: Bundle, viewer: Sees) -> CollectionOut:
    return CollectionOut.of(await bundle.collections.create(viewer, body.name))


@router.get("/collections/{collection_id}", response_model=CollectionOut)
async def get(collection_id: int, bundle: Bundle, viewer: Sees) -> CollectionOut:
    """One of your collections (its images: `GET /api/images?collection=ID`)."""
    return CollectionOut.of(await bundle.collections.get(viewer, collection_id))


@router.patch("/collections/{collection_id}", response_model=CollectionOut)
async def rename(collection_id: int, body: NameIn, bundle: Bundle, viewer: Sees) -> CollectionOut:
    return CollectionOut.of(await bundle.collections.rename(viewer, collection_id, body.name))


@router.delete("/collections/{collection_id}", response_model=Done)
async def delete(collection_id: int, bundle: Bundle, viewer: Sees) -> Done:
    """Delete a collection; its images stay in the gallery."""
    await bundle.collections.delete(viewer, collection_id)
    return Done()


@router.post("/collections/{collection_id}/images", response_model=CountOut)
async def add(collection_id: int, body: ImageIdsIn, bundle: Bundle, viewer: Sees) -> CountOut:
    """Add images you may see (all or none)."""
    return CountOut(changed=await bundle.collections.add(viewer, collection_id, body.image_ids))


@router.delete("/collections/{collection_id}/images", response_model=CountOut)
async def remove(collection_id: int, body: ImageIdsIn, bundle: Bundle, viewer: Sees) -> CountOut:
    return CountOut(changed=await bundle.collections.remove(viewer, collection_id, body.image_ids))
