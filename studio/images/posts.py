"""Which images the bot's messages show, so that a reaction on any of them means one image.

A reaction belongs to a message, not to one of its attachments: on a message of several images the
keycaps 1️⃣–8️⃣ pick image n (as numbered on the message), on a message of one image ⭐ picks it.
The map lives in SQLite (`posts`), so reactions on messages posted before a restart work too.
"""

from __future__ import annotations

from storage import Database
from studio.images.api import PostedImage

STAR = "⭐"
_VS16 = "\ufe0f"  # the emoji presentation selector, sent by some clients and not by others
KEYCAPS: dict[str, int] = {f"{n}\u20e3": n for n in range(1, 10)} | {"🔟": 10}


def normalise_emoji(emoji: str) -> str:
    """One spelling per emoji: without the presentation selector some clients add and others do not."""
    return emoji.replace(_VS16, "")


def keycap_number(emoji: str) -> int | None:
    """1 for 1️⃣ (with or without the presentation selector) … 10 for 🔟; None for any other emoji."""
    return KEYCAPS.get(normalise_emoji(emoji))


def keycap(number: int) -> str:
    """The keycap emoji users react with to pick image `number` of a message."""
    return "🔟" if number == 10 else f"{number}{_VS16}\u20e3"


class PostService:
    """Implements `PostsApi`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, message_id: int, image_ids: tuple[int, ...], role: str, *, channel_id: int | None, guild_id: int | None
    ) -> None:
        await self._db.posts.record(message_id, image_ids, role, channel_id=channel_id, guild_id=guild_id)

    async def image_for_reaction(self, message_id: int, emoji: str) -> PostedImage | None:
        posts = await self._db.posts.for_message(message_id)
        if not posts:
            return None  # not a message of the bot's that shows images
        if normalise_emoji(emoji) == STAR:
            number = 1 if len(posts) == 1 else None
        else:
            number = keycap_number(emoji) if len(posts) > 1 else None
        post = next((p for p in posts if p.number == number), None)
        if post is None:
            return None
        image = await self._db.images.get(post.image_id)
        if image is None:
            return None
        return PostedImage(image.id, image.job_id, image.index, image.path, message_id, post.number)
