"""Reactions users put on the bot's result messages."""

from __future__ import annotations

import sqlite3

from storage._codec import ts_required, ts_to_db
from storage.records import Reaction
from storage.repos._base import Repository, integrity_error


def _reaction(row: sqlite3.Row) -> Reaction:
    return Reaction(
        message_id=row["message_id"],
        image_id=row["image_id"],
        user_id=row["user_id"],
        emoji=row["emoji"],
        created_at=ts_required(row["created_at"]),
    )


class ReactionRepository(Repository):
    async def add(self, message_id: int, user_id: int, emoji: str, image_id: int | None = None) -> bool:
        """Record a reaction; False when it was already recorded (Discord may replay events)."""
        try:
            changed, _ = await self._db.execute(
                """INSERT OR IGNORE INTO reactions (message_id, image_id, user_id, emoji, created_at)
                   VALUES (?, ?, ?, ?, ?)""",
                (message_id, image_id, user_id, emoji, ts_to_db(self._db.now())),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(exc, duplicate="", missing=f"image {image_id} does not exist") from exc
        return changed > 0

    async def remove(self, message_id: int, user_id: int, emoji: str) -> bool:
        changed, _ = await self._db.execute(
            "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?", (message_id, user_id, emoji)
        )
        return changed > 0

    async def for_message(self, message_id: int) -> list[Reaction]:
        rows = await self._db.fetchall(
            "SELECT * FROM reactions WHERE message_id = ? ORDER BY created_at, user_id, emoji", (message_id,)
        )
        return [_reaction(row) for row in rows]

    async def for_image(self, image_id: int) -> list[Reaction]:
        rows = await self._db.fetchall(
            "SELECT * FROM reactions WHERE image_id = ? ORDER BY created_at, user_id, emoji", (image_id,)
        )
        return [_reaction(row) for row in rows]

    async def users_for_image(self, image_id: int, emoji: str | None = None) -> list[int]:
        """Distinct users who reacted to an image (with one emoji, or any), in order of first reaction."""
        sql = "SELECT user_id, MIN(created_at) AS first FROM reactions WHERE image_id = ?"
        params: tuple[object, ...] = (image_id,)
        if emoji is not None:
            sql += " AND emoji = ?"
            params += (emoji,)
        rows = await self._db.fetchall(sql + " GROUP BY user_id ORDER BY first, user_id", params)
        return [row["user_id"] for row in rows]
