"""Images generated per user, guild and UTC day, for daily quotas."""

from __future__ import annotations

from datetime import UTC, date

from storage._codec import day_to_db
from storage.repos._base import Repository

DM = 0  # guild_id stored for direct messages


class UsageRepository(Repository):
    def _day(self, day: date | None) -> str:
        return day_to_db(day if day is not None else self._db.now().astimezone(UTC).date())

    async def add(self, user_id: int, guild_id: int | None, images: int, day: date | None = None) -> int:
        """Add (or, with a negative count, refund) images; returns the day's new total, never below 0."""
        key = (user_id, DM if guild_id is None else guild_id, self._day(day))
        async with self._db.transaction():
            total = max(0, await self._total(*key) + images)
            await self._db.execute(
                """INSERT INTO usage (user_id, guild_id, day, images) VALUES (?, ?, ?, ?)
                   ON CONFLICT (user_id, guild_id, day) DO UPDATE SET images = excluded.images""",
                (*key, total),
            )
        return total

    async def images_on(self, user_id: int, guild_id: int | None, day: date | None = None) -> int:
        """Images the user generated in that guild (None: DMs) on a UTC day (default: today)."""
        return await self._total(user_id, DM if guild_id is None else guild_id, self._day(day))

    async def _total(self, user_id: int, guild_id: int, day: str) -> int:
        row = await self._db.fetchone(
            "SELECT images FROM usage WHERE user_id = ? AND guild_id = ? AND day = ?", (user_id, guild_id, day)
        )
        return int(row[0]) if row else 0
