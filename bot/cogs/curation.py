"""Reactions on the bot's results pick images for training sets: two thin listeners, one service call each.

Raw events fire for messages that are not cached (posted before a restart, say); the services find
the image behind a message in SQLite. Reactions by the bot itself and custom emoji mean nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from bot.client import StudioBot


class CurationCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    def _counts(self, payload: discord.RawReactionActionEvent) -> bool:
        own = self.bot.user is not None and payload.user_id == self.bot.user.id
        return not own and payload.emoji.id is None and bool(payload.emoji.name)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self._counts(payload):
            roles = tuple(role.id for role in payload.member.roles) if payload.member is not None else ()
            await self.bot.services.curation.reaction_added(
                payload.guild_id, payload.user_id, payload.message_id, str(payload.emoji.name), roles
            )

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self._counts(payload):
            await self.bot.services.curation.reaction_removed(
                payload.guild_id, payload.user_id, payload.message_id, str(payload.emoji.name)
            )


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(CurationCog(bot))
