"""What a front door may ask the chat adapter about a server's members: the bot's own view, never the browser's.

The web's "Sign in with Discord" learns from the provider only who the user is and which servers they are in; what
they may do and see in a server comes from the bot (`MemberDirectory`, implemented by the Discord adapter with the
bot's token). `capabilities` is the one rule that turns a member's server permissions into a `Caller`'s
capabilities, used by the bot for slash commands and by the web for signed-in members alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from studio.contract import Caller, Origin
from studio.errors import StudioError


class MembersUnavailable(StudioError):
    """The platform did not answer about a member (down, or it refused the bot): ask again later, decide nothing."""

    def __init__(self) -> None:
        super().__init__("Discord did not answer the bot about you: try again in a minute.")


def capabilities(*, manage_server: bool, manage_messages: bool) -> tuple[bool, bool]:
    """(may_moderate, may_manage_server) of a member with these server permissions."""
    return manage_messages or manage_server, manage_server


@dataclass(frozen=True)
class GuildInfo:
    """A server the bot is in."""

    id: int
    name: str


@dataclass(frozen=True)
class MemberView:
    """A member of a server as the bot sees them now.

    `channel_ids`: the server's channels and the threads the bot knows that the member may view. `adult`: the member
    may view at least one age-restricted (NSFW) channel there, so others' adult images may be shown to them.
    """

    guild_id: int
    user_id: int
    role_ids: tuple[int, ...]
    manage_server: bool
    manage_messages: bool
    channel_ids: frozenset[int]
    adult: bool

    @property
    def is_moderator(self) -> bool:
        return capabilities(manage_server=self.manage_server, manage_messages=self.manage_messages)[0]

    @property
    def is_manager(self) -> bool:
        return self.manage_server

    def caller(self, origin: Origin) -> Caller:
        """The member as the services' `Caller`, with the capabilities a slash command of theirs would have."""
        may_moderate, may_manage = capabilities(manage_server=self.manage_server, manage_messages=self.manage_messages)
        return Caller(
            user_id=self.user_id,
            guild_id=self.guild_id,
            role_ids=self.role_ids,
            may_moderate=may_moderate,
            may_manage_server=may_manage,
            origin=origin,
        )


class MemberDirectory(Protocol):
    """Implemented by the chat adapter (the Discord bot); answers from the platform, never from what a user sent."""

    async def member(self, guild_id: int, user_id: int) -> MemberView | None:
        """The member `user_id` of server `guild_id` now; None when they are not in it (or the bot is not).

        Raises `MembersUnavailable` when the platform cannot say (nothing is decided, or cached, on a failure)."""
        ...

    async def guilds(self) -> list[GuildInfo]:
        """The servers the bot is in."""
        ...
