"""A fake Discord OAuth2 provider on 127.0.0.1, and a fake of the bot's member directory.

The provider serves what the sign-in uses: the authorize page (which "approves" at once, or denies, and sends the
browser back to the redirect URI with a code and the state), the token exchange (checking the client's id and
secret, the code and the redirect URI, each code once) and the user's identity and servers (checking the token).
Every request is recorded, so tests can tell what was asked and how often.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

from studio.members_api import GuildInfo, MembersUnavailable, MemberView

CLIENT_ID = "880000000000000001"
CLIENT_SECRET = "s3cr3t-client-Secret-value-0123456789"


@dataclass
class FakeUser:
    id: int
    name: str
    guild_ids: list[int]


@dataclass
class FakeProvider:
    user: FakeUser
    deny: bool = False  # the user clicks "Cancel" on Discord's page
    down: bool = False  # the token endpoint fails (500)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _codes: dict[str, str] = field(default_factory=dict)  # code -> redirect_uri it was issued for
    _tokens: set[str] = field(default_factory=set)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post("/api/oauth2/token", self._token)
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/users/@me/guilds", self._guilds)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def count(self, path: str) -> int:
        return sum(1 for _method, seen in self.requests if seen == path)

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("GET", request.path))
        query = request.query
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        back = {"state": query["state"]}
        if self.deny:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(12)
            self._codes[code] = query["redirect_uri"]
            back["code"] = code
        raise web.HTTPFound(f"{query['redirect_uri']}?{urlencode(back)}")

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("POST", request.path))
        if self.down:
            return web.json_response({"message": "internal error"}, status=500)
        form = await request.post()
        basic = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if basic != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        issued_for = self._codes.pop(str(form.get("code")), None)  # each code works once
        if form.get("grant_type") != "authorization_code" or issued_for != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "Bearer", "scope": "identify guilds"})

    def _check(self, request: web.Request) -> None:
        self.requests.append(("GET", request.path))
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self._tokens:
            raise web.HTTPUnauthorized()

    async def _me(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        return web.json_response({"id": str(self.user.id), "username": self.user.name, "global_name": None})

    async def _guilds(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        # What Discord sends includes a `permissions` field: the studio must never use it.
        return web.json_response(
            [{"id": str(g), "name": f"server {g}", "permissions": str(1 << 5)} for g in self.user.guild_ids]
        )


class FakeMembers:
    """The bot's member directory: the servers it is in, and each member as set by the test. Counts lookups."""

    def __init__(self, guilds: list[GuildInfo]) -> None:
        self._guilds = guilds
        self.members: dict[tuple[int, int], MemberView] = {}
        self.lookups = 0
        self.down = False  # Discord does not answer the bot

    def put(self, view: MemberView) -> None:
        self.members[(view.guild_id, view.user_id)] = view

    def remove(self, guild_id: int, user_id: int) -> None:
        del self.members[(guild_id, user_id)]

    async def member(self, guild_id: int, user_id: int) -> MemberView | None:
        self.lookups += 1
        if self.down:
            raise MembersUnavailable
        return self.members.get((guild_id, user_id))

    async def guilds(self) -> list[GuildInfo]:
        return list(self._guilds)
