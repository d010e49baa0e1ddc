"""Which images the bot's messages show, by their number on the message, so that pointing at one means one image.

The map lives in SQLite (`posts`), so it holds for messages posted before a restart. How a member points (a
reaction's emoji, in Discord) is the adapter's business: it asks for the images a message shows.
"""

from __future__ import annotations

from storage import Database
from studio.images.api import PostedImage


class PostService:
    """Implements `PostsApi`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, message_id: int, image_ids: tuple[int, ...], role: str, *, channel_id: int | None, guild_id: int | None
    ) -> None:
        await self._db.posts.record(message_id, image_ids, role, channel_id=channel_id, guild_id=guild_id)

    async def images_on(self, message_id: int) -> tuple[PostedImage, ...]:
        shown = []
        for post in sorted(await self._db.posts.for_message(message_id), key=lambda p: p.number):
            image = await self._db.images.get(post.image_id)
            if image is not None:  # an image deleted since keeps its number free
                shown.append(PostedImage(image.id, image.job_id, image.index, image.path, message_id, post.number))
        return tuple(shown)
