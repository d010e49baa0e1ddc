"""The bot's answers about members, cached for a minute: every request of a signed-in member asks, few reach Discord.

A minute bounds how long a removed role or a closed channel still counts on the web (shared/web-notes.md §2), and
keeps a page with a dozen thumbnails to one `fetch_member` call. The clock is injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from studio.members_api import GuildInfo, MemberDirectory, MemberView

CACHE_S = 60.0


class CachedMembers:
    """A `MemberDirectory` whose answers (a member, or "not a member") are reused for `ttl_s` seconds."""

    def __init__(
        self, directory: MemberDirectory, *, ttl_s: float = CACHE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._directory = directory
        self._ttl_s = ttl_s
        self._clock = clock
        self._members: dict[tuple[int, int], tuple[float, MemberView | None]] = {}
        self._guilds: tuple[float, list[GuildInfo]] | None = None
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}

    def _fresh(self, at: float) -> bool:
        return self._clock() - at < self._ttl_s

    async def member(self, guild_id: int, user_id: int) -> MemberView | None:
        key = (guild_id, user_id)
        # One lookup per member at a time: a page's parallel requests wait for the first instead of each asking.
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._members.get(key)
            if cached is not None and self._fresh(cached[0]):
                return cached[1]
            found = await self._directory.member(guild_id, user_id)
            self._members[key] = (self._clock(), found)
            self._forget_stale()
            return found

    async def guilds(self) -> list[GuildInfo]:
        if self._guilds is None or not self._fresh(self._guilds[0]):
            self._guilds = (self._clock(), await self._directory.guilds())
        return self._guilds[1]

    def _forget_stale(self) -> None:
        if len(self._members) < 1024:
            return
        for key, (at, _found) in list(self._members.items()):
            if not self._fresh(at):
                del self._members[key]
                self._locks.pop(key, None)
