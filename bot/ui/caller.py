"""Build the services' `Caller` from an interaction."""

from __future__ import annotations

import discord

from bot.services.api import Caller


def caller_from(interaction: discord.Interaction) -> Caller:
    """Who clicked or typed, where, with the roles and permissions the policies look at."""
    user = interaction.user
    perms = interaction.permissions
    # Member.roles needs the guild cache; the role ids come with every interaction payload.
    role_ids = tuple(int(r) for r in getattr(user, "_roles", ())) if isinstance(user, discord.Member) else ()
    in_guild = interaction.guild_id is not None
    return Caller(
        user_id=user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=role_ids,
        is_moderator=in_guild and (perms.manage_messages or perms.manage_guild),
        is_manager=in_guild and perms.manage_guild,
    )
