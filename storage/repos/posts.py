"""Posts: which images each message the bot posted shows, numbered as users see them.

A reaction belongs to a message, not to an attachment: this table turns (message, number) into an image,
for grids (keycap n picks image n), single images (⭐), character sheets and auto-posts alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from storage._codec import ts_required, ts_to_db
from storage.records import Post
from storage.repos._base import Repository, integrity_error

POST_ROLES: tuple[str, ...] = ("grid", "single", "sheet", "autopost")
MAX_NUMBER = 10  # a message carries at most 10 attachments


def _post(row: sqlite3.Row) -> Post:
    return Post(
        message_id=row["message_id"],
        number=row["number"],
        image_id=row["image_id"],
        role=row["role"],
        channel_id=row["channel_id"],
        guild_id=row["guild_id"],
        created_at=ts_required(row["created_at"]),
    )


class PostRepository(Repository):
    async def record(
        self,
        message_id: int,
        image_ids: Sequence[int],
        role: str,
        *,
        channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> list[Post]:
        """Say that `message_id` shows `image_ids`, numbered 1, 2, … in that order (replacing what it showed)."""
        if role not in POST_ROLES:
            raise ValueError(f"role must be one of {POST_ROLES}, got {role!r}")
        if not 1 <= len(image_ids) <= MAX_NUMBER:
            raise ValueError(f"a post shows 1 to {MAX_NUMBER} images, got {len(image_ids)}")
        now = ts_to_db(self._db.now())
        try:
            async with self._db.transaction():
                await self._db.execute("DELETE FROM posts WHERE message_id = ?", (message_id,))
                for number, image_id in enumerate(image_ids, start=1):
                    await self._db.execute(
                        """INSERT INTO posts (message_id, number, image_id, role, channel_id, guild_id, created_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?)""",
                        (message_id, number, image_id, role, channel_id, guild_id, now),
                    )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(
                exc, duplicate="", missing=f"an image of message {message_id} does not exist"
            ) from exc
        return await self.for_message(message_id)

    async def for_message(self, message_id: int) -> list[Post]:
        """The images a message shows, by number."""
        rows = await self._db.fetchall("SELECT * FROM posts WHERE message_id = ? ORDER BY number", (message_id,))
        return [_post(row) for row in rows]

    async def for_image(self, image_id: int) -> list[Post]:
        """Every message that shows an image, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM posts WHERE image_id = ? ORDER BY created_at, message_id", (image_id,)
        )
        return [_post(row) for row in rows]
