"""Favourites and collections (implements `CollectionsApi`): each member's own, of images they may see."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from storage import Database, DuplicateError
from studio.errors import NotFound, Refused
from studio.gallery.api import CollectionInfo, Viewer
from studio.gallery.service import GalleryService, check_batch, collection_info
from studio.names import kept_name

log = logging.getLogger(__name__)

MAX_COLLECTIONS = 200  # per member and server


class CollectionService:
    """Collections are private to their owner; a name is kept as typed and unique per owner and server by its key."""

    def __init__(self, db: Database, gallery: GalleryService) -> None:
        self._db = db
        self._gallery = gallery

    async def favourite(self, viewer: Viewer, image_id: int, on: bool = True) -> bool:
        await self._gallery.seen(viewer, [image_id])
        if on:
            return await self._db.favourites.add(viewer.caller.user_id, image_id)
        return await self._db.favourites.remove(viewer.caller.user_id, image_id)

    async def list(self, viewer: Viewer) -> tuple[CollectionInfo, ...]:
        caller = viewer.caller
        return tuple(collection_info(c) for c in await self._db.collections.list(caller.user_id, caller.guild_id))

    async def create(self, viewer: Viewer, name: str) -> CollectionInfo:
        caller = viewer.caller
        kept = kept_name(name, "collection name")
        if len(await self._db.collections.list(caller.user_id, caller.guild_id)) >= MAX_COLLECTIONS:
            raise Refused(f"You have {MAX_COLLECTIONS} collections here already: delete one first.")
        try:
            made = await self._db.collections.create(caller.user_id, caller.guild_id, kept)
        except DuplicateError:
            raise Refused(f"You already have a collection named {kept!r} here: pick another name.") from None
        log.info("user=%s created collection %s", caller.user_id, made.id)
        return collection_info(made)

    async def get(self, viewer: Viewer, collection_id: int) -> CollectionInfo:
        return await self._gallery.own_collection(viewer, collection_id)

    async def rename(self, viewer: Viewer, collection_id: int, name: str) -> CollectionInfo:
        await self._gallery.own_collection(viewer, collection_id)
        kept = kept_name(name, "collection name")
        try:
            return collection_info(await self._db.collections.rename(collection_id, kept))
        except DuplicateError:
            raise Refused(f"You already have a collection named {kept!r} here: pick another name.") from None

    async def delete(self, viewer: Viewer, collection_id: int) -> str:
        found = await self._gallery.own_collection(viewer, collection_id)
        if not await self._db.collections.delete(collection_id):
            raise NotFound(f"You have no collection {collection_id}.")
        return found.name

    async def add(self, viewer: Viewer, collection_id: int, image_ids: Sequence[int]) -> int:
        await self._gallery.own_collection(viewer, collection_id)
        ids = check_batch(image_ids)
        await self._gallery.seen(viewer, ids)
        return await self._db.collections.add_images(collection_id, ids)

    async def remove(self, viewer: Viewer, collection_id: int, image_ids: Sequence[int]) -> int:
        # No visibility check: a member may always take out what they put in, seen or no longer.
        await self._gallery.own_collection(viewer, collection_id)
        return await self._db.collections.remove_images(collection_id, check_batch(image_ids))
