"""Discord's OAuth2 authorization-code flow, as three HTTP calls with aiohttp (discord.py's own HTTP client).

`authorize_url` sends the browser to Discord with `scope=identify guilds`; `identify` trades the code that comes
back for an access token (one POST, the client secret as HTTP Basic), reads who the user is and which servers they
are in, and lets the token go: nothing after sign-in needs it, since the bot answers for the member from then on.
Nothing here logs or returns the secret, the code or the token; a failure is an `OAuthFailure` with one line for
the user.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic import SecretStr

log = logging.getLogger(__name__)

SCOPES = "identify guilds"
TIMEOUT_S = 10.0
AUTHORIZE_PATH = "/oauth2/authorize"  # the browser's page (Discord's docs name https://discord.com/oauth2/authorize)
TOKEN_PATH = "/api/oauth2/token"  # noqa: S105 - an address, not a secret
API_PATH = "/api/v10"


class OAuthFailure(Exception):
    """The sign-in could not finish; `str()` is one line saying what to do."""


@dataclass(frozen=True)
class Identity:
    """Who signed in, and the servers Discord says they are in (only used to offer a choice; the bot decides)."""

    user_id: int
    name: str
    guild_ids: frozenset[int]


class DiscordOAuth:
    """One Discord application's sign-in: its client id and secret, and the one redirect URI registered for it."""

    def __init__(self, base: str, client_id: str, client_secret: SecretStr, redirect_uri: str) -> None:
        self._base = base.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "scope": SCOPES,
                "state": state,
                "redirect_uri": self.redirect_uri,
                "prompt": "none",  # a user who already allowed the studio is not asked again
            }
        )
        return f"{self._base}{AUTHORIZE_PATH}?{query}"

    async def identify(self, code: str) -> Identity:
        """Trade `code` for a token, read the user and their servers, drop the token."""
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                token = await self._exchange(http, code)
                headers = {"Authorization": f"Bearer {token}"}
                user = await self._get(http, "/users/@me", headers)
                guilds = await self._get(http, "/users/@me/guilds", headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Discord sign-in: the provider did not answer (%s)", type(exc).__name__)
            raise OAuthFailure("Discord did not answer: try signing in again in a minute.") from None
        try:
            return Identity(
                user_id=int(user["id"]),
                name=str(user.get("global_name") or user.get("username") or user["id"]),
                guild_ids=frozenset(int(guild["id"]) for guild in guilds),
            )
        except (KeyError, TypeError, ValueError):
            log.warning("Discord sign-in: the provider's answer was not understood")
            raise OAuthFailure("Discord's answer was not understood: try signing in again.") from None

    async def _exchange(self, http: aiohttp.ClientSession, code: str) -> str:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        pair = f"{self._client_id}:{self._secret.get_secret_value()}".encode()
        headers = {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}  # the client's id and secret
        async with http.post(f"{self._base}{TOKEN_PATH}", data=form, headers=headers) as answer:
            if answer.status in (400, 401):  # a used or expired code, or the wrong client secret
                log.warning("Discord sign-in: the code exchange was refused (HTTP %s)", answer.status)
                raise OAuthFailure("Discord refused this sign-in (it may have expired): sign in again.")
            answer.raise_for_status()
            data: dict[str, Any] = await answer.json()
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthFailure("Discord's answer was not understood: try signing in again.")
        return token

    async def _get(self, http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> Any:
        async with http.get(f"{self._base}{API_PATH}{path}", headers=headers) as answer:
            answer.raise_for_status()
            return await answer.json()
