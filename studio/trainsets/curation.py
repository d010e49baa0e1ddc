"""Reactions pick images: ⭐ on a single image, keycap n on a grid, into the member's active set.

Only reactions on the bot's own results count (`posts` maps the message and emoji to one image, also for
messages posted before a restart); removing the reaction removes what that member's reaction added.
Nothing here raises into the gateway listener: a refusal is logged, the reaction simply adds nothing.
"""

from __future__ import annotations

import asyncio
import logging

from storage import Database, StorageError
from studio.contract import Caller
from studio.errors import StudioError
from studio.images.posts import PostService, normalise_emoji
from studio.jobs.admission import Admission
from studio.trainsets.service import NewItem, TrainsetService

log = logging.getLogger(__name__)


class Curation:
    """Implements `CurationApi`."""

    def __init__(self, db: Database, posts: PostService, sets: TrainsetService, admission: Admission) -> None:
        self._db = db
        self._posts = posts
        self._sets = sets
        self._admission = admission
        # One reaction at a time: an add and its removal, arriving together, are handled in the order they came.
        self._lock = asyncio.Lock()

    async def reaction_added(
        self, guild_id: int | None, user_id: int, message_id: int, emoji: str, role_ids: tuple[int, ...] = ()
    ) -> bool:
        async with self._lock:
            try:
                return await self._added(guild_id, user_id, message_id, emoji, role_ids)
            except (StudioError, StorageError, OSError) as exc:
                log.info("user=%s: reaction %s on message %s adds nothing: %s", user_id, emoji, message_id, exc)
                return False

    async def _added(
        self, guild_id: int | None, user_id: int, message_id: int, emoji: str, role_ids: tuple[int, ...]
    ) -> bool:
        posted = await self._posts.image_for_reaction(message_id, emoji)
        if posted is None:
            return False  # not one of the bot's results, or not a picking emoji
        emoji = normalise_emoji(emoji)
        await self._db.reactions.add(message_id, user_id, emoji, image_id=posted.image_id)
        # The server's role list applies to picking as to generating (captions run on the GPU).
        await self._admission.check_access(Caller(user_id=user_id, guild_id=guild_id, role_ids=role_ids))
        target = await self._db.training_sets.active(guild_id, user_id)
        if target is None:
            log.info("user=%s reacted %s on message %s with no active set", user_id, emoji, message_id)
            return False
        image = await self._db.images.get(posted.image_id)
        if image is None:
            return False
        await self._sets.check_adding(user_id, target)
        new = NewItem(image.path, image_id=image.id, sha256=image.sha256, message_id=message_id, emoji=emoji)
        added, _job = await self._sets.add_items(target, user_id, "reaction", [new])
        if added:
            log.info("user=%s added image %s to set %s as #%s", user_id, image.id, target.id, added[0].number)
        return bool(added)

    async def reaction_removed(self, guild_id: int | None, user_id: int, message_id: int, emoji: str) -> bool:
        async with self._lock:
            emoji = normalise_emoji(emoji)
            await self._db.reactions.remove(message_id, user_id, emoji)
            items = await self._db.training_sets.items_from_reaction(message_id, emoji, user_id)
            if items:
                await self._sets.remove_items(items)
                log.info("user=%s took back %s image(s) from message %s", user_id, len(items), message_id)
            return bool(items)
