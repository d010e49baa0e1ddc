"""The reaction grammar: which image of a result message a member's emoji picks.

A reaction belongs to a message, not to one of its attachments: on a message of several images the keycaps
1️⃣–🔟 pick image n (as numbered on the message), on a message of one image ⭐ picks it. Any other emoji, or a
message that shows no results, picks nothing.
"""

from __future__ import annotations

from studio.bundle import StudioBundle
from studio.images.api import PostedImage

STAR = "⭐"
_VS16 = "\ufe0f"  # the emoji presentation selector, sent by some clients and not by others
KEYCAPS: dict[str, int] = {f"{n}\u20e3": n for n in range(1, 10)} | {"🔟": 10}


def normalise_emoji(emoji: str) -> str:
    """One spelling per emoji: without the presentation selector some clients add and others do not."""
    return emoji.replace(_VS16, "")


def picked_number(emoji: str, shown: int) -> int | None:
    """The number on a message of `shown` images that `emoji` picks; None when it picks none."""
    emoji = normalise_emoji(emoji)
    if shown == 1:
        return 1 if emoji == STAR else None
    number = KEYCAPS.get(emoji)
    return number if shown > 1 and number is not None and number <= shown else None


async def image_for_reaction(services: StudioBundle, message_id: int, emoji: str) -> PostedImage | None:
    """The image a reaction on message `message_id` picks, if it is one of the bot's results."""
    shown = await services.posts.images_on(message_id)
    number = picked_number(emoji, len(shown))
    return next((image for image in shown if image.number == number), None)
