"""Reactions on the bot's results pick images for training sets: ⭐ on a single image, keycap n on a grid.

The emoji and the message say which image (`bot.ui.reactions`, over the services' `posts` map in SQLite, so
messages posted before a restart count too); the pick itself is by image id, into the member's active set, as
every front door picks. Removing the reaction takes the image back out. Raw events fire for messages that are
not cached; reactions by the bot itself and custom emoji mean nothing here. Nothing is answered: a refusal is
logged, the reaction adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.ui.caller import caller_from_reaction
from bot.ui.reactions import image_for_reaction
from studio.errors import StudioError

if TYPE_CHECKING:
    from bot.client import StudioBot

log = logging.getLogger(__name__)


class CurationCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        # One reaction at a time: an add and its removal, arriving together, are handled in the order they came.
        self._lock = asyncio.Lock()

    def _counts(self, payload: discord.RawReactionActionEvent) -> bool:
        own = self.bot.user is not None and payload.user_id == self.bot.user.id
        return not own and payload.emoji.id is None and bool(payload.emoji.name)

    async def _image_id(self, payload: discord.RawReactionActionEvent) -> int | None:
        """The image the reaction points at; None on a message that is not a result, or an emoji that picks none."""
        posted = await image_for_reaction(self.bot.services, payload.message_id, str(payload.emoji.name))
        return None if posted is None else posted.image_id

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._react(payload, pick=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._react(payload, pick=False)

    async def _react(self, payload: discord.RawReactionActionEvent, *, pick: bool) -> None:
        """A ⭐ or keycap added picks the image it points at into the member's active set; taken back, unpicks it."""
        if not self._counts(payload):
            return
        async with self._lock:  # an add and its removal, in the order they arrived
            image_id = await self._image_id(payload)
            if image_id is None:
                return
            curation = self.bot.services.curation
            act = curation.pick if pick else curation.unpick
            try:
                await act(caller_from_reaction(payload), None, image_id)
            except (StudioError, OSError) as exc:
                what = "picks nothing" if pick else "unpicks nothing"
                log.info(
                    "user=%s: %s on message %s %s: %s", payload.user_id, payload.emoji, payload.message_id, what, exc
                )


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(CurationCog(bot))
