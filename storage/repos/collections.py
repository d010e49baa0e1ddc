"""Favourites (a member's stars on images) and collections (a member's named groups of images)."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable

from storage._codec import ts_required, ts_to_db
from storage.errors import DuplicateError
from storage.names import check_name, name_key
from storage.records import Collection
from storage.repos._base import Repository, integrity_error

_WITH_SIZE = """SELECT c.*, (SELECT COUNT(*) FROM collection_items AS ci WHERE ci.collection_id = c.id) AS size
                FROM collections AS c"""


def _collection(row: sqlite3.Row) -> Collection:
    return Collection(
        id=row["id"],
        owner_id=row["owner_id"],
        guild_id=row["guild_id"],
        name=row["name"],
        created_at=ts_required(row["created_at"]),
        size=row["size"],
    )


def _ids(image_ids: Iterable[int]) -> str:
    return json.dumps(sorted(set(image_ids)))


class FavouriteRepository(Repository):
    async def add(self, user_id: int, image_id: int) -> bool:
        """Star an image; False when it already was. NotFoundError when the image does not exist."""
        try:
            count, _ = await self._db.execute(
                "INSERT OR IGNORE INTO favourites (user_id, image_id, created_at) VALUES (?, ?, ?)",
                (user_id, image_id, ts_to_db(self._db.now())),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(exc, duplicate="", missing=f"image {image_id} does not exist") from exc
        return count == 1

    async def remove(self, user_id: int, image_id: int) -> bool:
        count, _ = await self._db.execute(
            "DELETE FROM favourites WHERE user_id = ? AND image_id = ?", (user_id, image_id)
        )
        return count == 1


class CollectionRepository(Repository):
    async def create(self, owner_id: int, guild_id: int | None, name: str) -> Collection:
        """A new, empty collection; DuplicateError when the owner has one of that name (by key) in that server."""
        name = check_name(name, "collection name")
        try:
            _, collection_id = await self._db.execute(
                "INSERT INTO collections (owner_id, guild_id, name, name_key, created_at) VALUES (?, ?, ?, ?, ?)",
                (owner_id, guild_id, name, name_key(name), ts_to_db(self._db.now())),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(exc, duplicate=f"a collection named {name!r} exists", missing=name) from exc
        assert collection_id is not None
        created = await self.get(collection_id)
        assert created is not None
        return created

    async def get(self, collection_id: int) -> Collection | None:
        row = await self._db.fetchone(f"{_WITH_SIZE} WHERE c.id = ?", (collection_id,))
        return None if row is None else _collection(row)

    async def by_name(self, owner_id: int, guild_id: int | None, name: str) -> Collection | None:
        row = await self._db.fetchone(
            f"{_WITH_SIZE} WHERE c.owner_id = ? AND IFNULL(c.guild_id, 0) = IFNULL(?, 0) AND c.name_key = ?",
            (owner_id, guild_id, name_key(name)),
        )
        return None if row is None else _collection(row)

    async def list(self, owner_id: int, guild_id: int | None) -> builtins.list[Collection]:
        """The owner's collections in a server (None: outside any), by name."""
        rows = await self._db.fetchall(
            f"{_WITH_SIZE} WHERE c.owner_id = ? AND IFNULL(c.guild_id, 0) = IFNULL(?, 0) ORDER BY c.name_key",
            (owner_id, guild_id),
        )
        return [_collection(row) for row in rows]

    async def holding(self, owner_id: int, image_id: int) -> builtins.list[Collection]:
        """The owner's collections (in any server) that hold an image, by name."""
        rows = await self._db.fetchall(
            f"""{_WITH_SIZE} WHERE c.owner_id = ?
                AND c.id IN (SELECT collection_id FROM collection_items WHERE image_id = ?) ORDER BY c.name_key""",  # noqa: S608
            (owner_id, image_id),
        )
        return [_collection(row) for row in rows]

    async def rename(self, collection_id: int, name: str) -> Collection:
        """Rename; DuplicateError when the owner already has another collection of that name there."""
        name = check_name(name, "collection name")
        try:
            await self._db.execute(
                "UPDATE collections SET name = ?, name_key = ? WHERE id = ?", (name, name_key(name), collection_id)
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"a collection named {name!r} exists") from exc
        renamed = await self.get(collection_id)
        assert renamed is not None
        return renamed

    async def delete(self, collection_id: int) -> bool:
        count, _ = await self._db.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
        return count == 1

    async def add_images(self, collection_id: int, image_ids: Iterable[int]) -> int:
        """Add images (those already in are skipped); returns how many were added."""
        count, _ = await self._db.execute(
            """INSERT OR IGNORE INTO collection_items (collection_id, image_id, added_at)
               SELECT ?, images.id, ? FROM images WHERE images.id IN (SELECT value FROM json_each(?))""",
            (collection_id, ts_to_db(self._db.now()), _ids(image_ids)),
        )
        return count

    async def remove_images(self, collection_id: int, image_ids: Iterable[int]) -> int:
        count, _ = await self._db.execute(
            "DELETE FROM collection_items WHERE collection_id = ? AND image_id IN (SELECT value FROM json_each(?))",
            (collection_id, _ids(image_ids)),
        )
        return count
