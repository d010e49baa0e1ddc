"""What a route handler is handed: the core's bundle, the event bus, and who asks (checked on every request).

Every router but the login exchange and the static files depends on `require_caller` (tests/web walk the routes to
hold that). A cookie-authenticated unsafe request must also carry its session's CSRF token in `X-CSRF-Token`; a
Bearer request needs none, since a browser never attaches that header by itself.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from studio.bundle import StudioBundle
from studio.contract import Caller
from studio.gallery.api import Viewer
from studio.members_api import MemberView
from web.auth import OWNER_ID, WEB_ORIGIN, LocalAuth, Session, cookie_name
from web.discord_login import DiscordLogin
from web.events import WebEvents
from web.guard import SAFE_METHODS

CSRF_HEADER = "X-CSRF-Token"
WRONG_TOKEN_DELAY_S = 0.5  # a wrong token waits this long before its 401: guessing stays slow


@dataclass(frozen=True)
class Asker:
    """Who a request comes from: the core's `Caller`, and the session when it came with the cookie."""

    caller: Caller
    session: Session | None  # None: an `Authorization: Bearer` request
    member: MemberView | None = None  # a server's member as the bot sees them (Sign in with Discord on)


def bundle(request: Request) -> StudioBundle:
    found: StudioBundle = request.app.state.bundle
    return found


def events(request: Request) -> WebEvents:
    found: WebEvents = request.app.state.events
    return found


def auth(request: Request) -> LocalAuth:
    found: LocalAuth = request.app.state.auth
    return found


def discord_login(request: Request) -> DiscordLogin | None:
    """Sign in with Discord, when it is on (a public URL, the client's id and secret, and the bot)."""
    found: DiscordLogin | None = getattr(request.app.state, "discord", None)
    return found


async def _member_asker(login: DiscordLogin, guild_id: int, user_id: int, session: Session | None) -> Asker | None:
    """A member as the bot sees them now (its answers cached a minute); None once they are not in the server."""
    member = await login.members.member(guild_id, user_id)
    return None if member is None else Asker(member.caller(WEB_ORIGIN), session, member)


async def identify(request: Request) -> Asker | None:
    """The asker a request's Bearer token or session cookie names, or None; a wrong Bearer token waits first.

    A Bearer token is the studio's access token (the owner), or a member's API token (`TokensApi`): that member, in
    the server the token was made in, with a member's rights only; with Sign in with Discord on, with their roles and
    rights as the bot sees them, and nobody once they left that server. A member's session cookie likewise.
    """
    local = auth(request)
    login = discord_login(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        secret = header[7:].strip()
        if local.token_matches(secret):
            return Asker(local.caller(OWNER_ID), None)
        owner = await bundle(request).tokens.verify(secret)
        if owner is not None and login is not None and owner.guild_id is not None:
            return await _member_asker(login, owner.guild_id, owner.user_id, None)
        if owner is not None:
            return Asker(Caller(user_id=owner.user_id, guild_id=owner.guild_id, origin=WEB_ORIGIN), None)
        await asyncio.sleep(WRONG_TOKEN_DELAY_S)
        return None
    cookie = request.cookies.get(cookie_name(request.url.port))
    session = local.session(cookie)
    if session is not None:
        return Asker(local.caller(session.user_id), session)
    member_session = login.session(cookie) if login is not None else None
    if login is None or member_session is None or member_session.guild_id is None:
        return None
    return await _member_asker(login, member_session.guild_id, member_session.user_id, member_session)


async def require_asker(request: Request) -> Asker:
    asker = await identify(request)
    if asker is None:
        raise HTTPException(401, "Sign in first: open the address `studio web url` prints.")
    if asker.session is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), asker.session.csrf.encode()):
            raise HTTPException(403, f"Missing or wrong {CSRF_HEADER} header: reload the page.")
    request.state.asker = asker
    return asker


async def page_asker(request: Request) -> Asker | None:
    """Who asks for a page, remembered on the request for its template (the nav, the CSRF token); None: nobody."""
    asker = await identify(request)
    if asker is not None:
        request.state.asker = asker
    return asker


async def require_caller(asker: Annotated[Asker, Depends(require_asker)]) -> Caller:
    return asker.caller


async def require_viewer(asker: Annotated[Asker, Depends(require_asker)]) -> Viewer:
    """The caller as the gallery judges what they may see: the owner (local token mode) sees all; a member signed in
    with Discord sees what the bot says they may view; a member's API token without Discord, only their own."""
    if asker.member is not None:
        return Viewer(asker.caller, channel_ids=asker.member.channel_ids, adult=asker.member.adult)
    return Viewer(asker.caller)


Bundle = Annotated[StudioBundle, Depends(bundle)]
Events = Annotated[WebEvents, Depends(events)]
Who = Annotated[Caller, Depends(require_caller)]
Sees = Annotated[Viewer, Depends(require_viewer)]
Authenticated = [Depends(require_asker)]  # a router's `dependencies=`: nobody unauthenticated gets past it
