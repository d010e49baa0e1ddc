"""The bot's view of a server's members, for the web's Sign in with Discord (`studio.members_api.MemberDirectory`).

What a signed-in member may do and see is read here with the bot's own token, never taken from the browser or from
the user's OAuth2 token: `guild.fetch_member` (one REST call; fetching one member needs no privileged intent) gives
their roles and server permissions, and each channel the bot has cached says whether they may view it.
"""

from __future__ import annotations

import logging

import discord

from studio.members_api import GuildInfo, MembersUnavailable, MemberView

log = logging.getLogger(__name__)


class DiscordMembers:
    """`MemberDirectory` on a logged-in bot. Answers are not cached here: the web caches them (60 s)."""

    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot

    async def guilds(self) -> list[GuildInfo]:
        return [GuildInfo(guild.id, guild.name) for guild in self._bot.guilds]

    async def member(self, guild_id: int, user_id: int) -> MemberView | None:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return None  # the bot is not in that server (any more)
        try:
            member = await guild.fetch_member(user_id)
        except discord.NotFound:
            return None
        except discord.HTTPException as exc:  # Discord is down, or refuses the bot: say so, decide nothing
            log.warning("could not fetch member %s of server %s (HTTP %s)", user_id, guild_id, exc.status)
            raise MembersUnavailable from None
        return view_of(guild, member)


def _visible(channel: discord.abc.GuildChannel | discord.Thread, member: discord.Member) -> bool:
    perms = channel.permissions_for(member)
    if not perms.view_channel:
        return False
    # A private thread shows to its members and to those who manage threads; the bot knows the latter for sure.
    if isinstance(channel, discord.Thread) and channel.is_private():
        return perms.manage_threads or channel.owner_id == member.id or channel.get_member(member.id) is not None
    return True


def view_of(guild: discord.Guild, member: discord.Member) -> MemberView:
    """The member as the web needs them: roles, the two permissions the policies read, what they may view."""
    perms = member.guild_permissions
    visible: set[int] = set()
    adult = False
    places: list[discord.abc.GuildChannel | discord.Thread] = [*guild.channels, *guild.threads]
    for channel in places:
        if isinstance(channel, discord.CategoryChannel) or not _visible(channel, member):
            continue
        visible.add(channel.id)
        is_nsfw = getattr(channel, "is_nsfw", None)
        adult = adult or bool(is_nsfw is not None and is_nsfw())
    return MemberView(
        guild_id=guild.id,
        user_id=member.id,
        role_ids=tuple(role.id for role in member.roles if not role.is_default()),
        manage_server=perms.manage_guild,
        manage_messages=perms.manage_messages,
        channel_ids=frozenset(visible),
        adult=adult,
    )
