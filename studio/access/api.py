"""What the adapters may ask about API tokens: bearer tokens members make for their scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from studio.contract import Caller

MAX_TOKENS = 20  # per member


@dataclass(frozen=True)
class TokenInfo:
    """A token as its owner's list shows it (never the secret)."""

    id: int
    name: str
    guild_id: int | None  # the server its requests act in
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A token just made: `secret` is shown to its owner this once; only its SHA-256 is stored."""

    info: TokenInfo
    secret: str = field(repr=False)


@dataclass(frozen=True)
class TokenOwner:
    """Whom a presented token speaks for: the adapter builds the request's caller from it."""

    user_id: int
    guild_id: int | None
    token_id: int


class TokensApi(Protocol):
    async def create(self, caller: Caller, name: str) -> NewToken:
        """A new token acting for `caller` in `caller.guild_id`."""
        ...

    async def verify(self, secret: str) -> TokenOwner | None:
        """The owner of a presented token (its last use noted), or None: unknown, revoked or malformed."""
        ...

    async def list(self, caller: Caller) -> tuple[TokenInfo, ...]: ...

    async def revoke(self, caller: Caller, token_id: int) -> None:
        """Revoke one of the caller's tokens; NotFound for any other id."""
        ...
