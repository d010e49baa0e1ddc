"""Build the services' `Caller` from an interaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import discord

from studio.bundle import StudioBundle
from studio.contract import Caller
from studio.members_api import capabilities

# Discord: an interaction token can edit the response (and send followups) for 15 minutes.
TOKEN_LIFETIME = timedelta(minutes=15)


def token_expiry(created_at: datetime) -> datetime:
    """When the token of an interaction created at `created_at` stops working."""
    return created_at + TOKEN_LIFETIME


def caller_from(interaction: discord.Interaction) -> Caller:
    """Who clicked or typed, where, with the roles and permissions the policies look at.

    The interaction's token travels with the caller: the job service stores it with the job, so the
    job's messages edit this interaction's response for as long as the token lives, also after a restart.
    """
    user = interaction.user
    perms = interaction.permissions
    # Member.roles needs the guild cache; the role ids come with every interaction payload.
    role_ids = tuple(int(r) for r in getattr(user, "_roles", ())) if isinstance(user, discord.Member) else ()
    in_guild = interaction.guild_id is not None
    may_moderate, may_manage = capabilities(manage_server=perms.manage_guild, manage_messages=perms.manage_messages)
    return Caller(
        user_id=user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=role_ids,
        may_moderate=in_guild and may_moderate,
        may_manage_server=in_guild and may_manage,
        interaction_token=interaction.token,
        token_expires_at=token_expiry(interaction.created_at),
    )


def caller_from_reaction(payload: discord.RawReactionActionEvent) -> Caller:
    """The member who reacted, where, with their roles when Discord sends them (on an add, not on a removal).

    A reaction carries no permissions: the member acts as themselves (their own picks, their own sets).
    """
    member = payload.member
    role_ids = tuple(int(r) for r in getattr(member, "_roles", ())) if member is not None else ()
    return Caller(user_id=payload.user_id, guild_id=payload.guild_id, channel_id=payload.channel_id, role_ids=role_ids)


def services_of(interaction: discord.Interaction) -> StudioBundle:
    """The services of the bot that received `interaction` (a `bot.client.StudioBot`)."""
    return interaction.client.services  # type: ignore[attr-defined]
