"""API tokens (implements `TokensApi`): a random secret shown once, stored as its SHA-256 only.

A token is 32 random bytes, so a plain SHA-256 (no salt, no slow hash) is enough: nothing can be guessed from the
digest, and the lookup by digest is an index probe whose timing tells nothing about any stored secret.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from storage import ApiToken, Database
from studio.access.api import MAX_TOKENS, NewToken, TokenInfo, TokenOwner
from studio.contract import Caller
from studio.errors import NotFound, Refused
from studio.names import kept_name

log = logging.getLogger(__name__)

PREFIX = "sst_"  # tells a studio token apart in a config file or a secret scanner's report
_MAX_SECRET = 200  # longer presented text is refused unhashed
USE_NOTED_EVERY = timedelta(seconds=60)  # last_used_at right to the minute, without a write on every request


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(token.id, token.name, token.guild_id, token.created_at, token.last_used_at)


class TokenService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, caller: Caller, name: str) -> NewToken:
        kept = kept_name(name, "token name")
        if len(await self._db.api_tokens.list(caller.user_id)) >= MAX_TOKENS:
            raise Refused(f"You have {MAX_TOKENS} API tokens already: revoke one first.")
        secret = PREFIX + secrets.token_urlsafe(32)
        token = await self._db.api_tokens.add(caller.user_id, caller.guild_id, kept, digest(secret))
        log.info("user=%s created API token %s", caller.user_id, token.id)  # the id only, never the secret
        return NewToken(_info(token), secret)

    async def verify(self, secret: str) -> TokenOwner | None:
        if not isinstance(secret, str) or not secret.startswith(PREFIX) or len(secret) > _MAX_SECRET:
            return None
        token = await self._db.api_tokens.use(digest(secret), USE_NOTED_EVERY)
        return None if token is None else TokenOwner(token.user_id, token.guild_id, token.id)

    async def list(self, caller: Caller) -> tuple[TokenInfo, ...]:
        return tuple(_info(t) for t in await self._db.api_tokens.list(caller.user_id))

    async def revoke(self, caller: Caller, token_id: int) -> None:
        if not await self._db.api_tokens.revoke(caller.user_id, token_id):
            raise NotFound(f"You have no API token {token_id}.")
        log.info("user=%s revoked API token %s", caller.user_id, token_id)
