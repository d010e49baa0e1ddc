"""Reading user attachments safely."""

from __future__ import annotations

import discord

from studio.errors import StudioError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


async def read_attachment(attachment: discord.Attachment, max_bytes: int, what: str = "image") -> bytes:
    """Download an attachment after checking the size Discord reports; the services check the content."""
    if attachment.size > max_bytes:
        raise StudioError(
            f"The {what} is too large ({_mib(attachment.size)}); the limit is {_mib(max_bytes)}. "
            "Upload a smaller or more compressed file."
        )
    try:
        return await attachment.read()
    except (discord.HTTPException, discord.NotFound) as exc:
        raise StudioError(f"The {what} could not be downloaded from Discord ({exc.status}). Try again.") from None


def first_image(message: discord.Message) -> discord.Attachment:
    """The first attachment of a message that looks like an image (the services check its content)."""
    for attachment in message.attachments:
        content_type = (attachment.content_type or "").lower()
        if content_type.startswith("image/") or attachment.filename.lower().endswith(IMAGE_SUFFIXES):
            return attachment
    raise StudioError("That message has no image. Use Describe on a message with a PNG, JPEG or WebP attachment.")
