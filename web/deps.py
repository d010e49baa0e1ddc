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
from web.auth import OWNER_ID, WEB_ORIGIN, LocalAuth, Session, cookie_name
from web.events import WebEvents
from web.guard import SAFE_METHODS

CSRF_HEADER = "X-CSRF-Token"
WRONG_TOKEN_DELAY_S = 0.5  # a wrong token waits this long before its 401: guessing stays slow


@dataclass(frozen=True)
class Asker:
    """Who a request comes from: the core's `Caller`, and the session when it came with the cookie."""

    caller: Caller
    session: Session | None  # None: an `Authorization: Bearer` request


def bundle(request: Request) -> StudioBundle:
    found: StudioBundle = request.app.state.bundle
    return found


def events(request: Request) -> WebEvents:
    found: WebEvents = request.app.state.events
    return found


def auth(request: Request) -> LocalAuth:
    found: LocalAuth = request.app.state.auth
    return found


async def identify(request: Request) -> Asker | None:
    """The asker a request's Bearer token or session cookie names, or None; a wrong Bearer token waits first.

    A Bearer token is the studio's access token (the owner), or a member's API token (`TokensApi`): that member, in
    the server the token was made in, with a member's rights only (the web cannot see their roles).
    """
    local = auth(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        secret = header[7:].strip()
        if local.token_matches(secret):
            return Asker(local.caller(OWNER_ID), None)
        owner = await bundle(request).tokens.verify(secret)
        if owner is not None:
            return Asker(Caller(user_id=owner.user_id, guild_id=owner.guild_id, origin=WEB_ORIGIN), None)
        await asyncio.sleep(WRONG_TOKEN_DELAY_S)
        return None
    session = local.session(request.cookies.get(cookie_name(request.url.port)))
    return None if session is None else Asker(local.caller(session.user_id), session)


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


async def require_caller(asker: Annotated[Asker, Depends(require_asker)]) -> Caller:
    return asker.caller


async def require_viewer(asker: Annotated[Asker, Depends(require_asker)]) -> Viewer:
    """The caller as the gallery judges what they may see. In local token mode that is the owner, who sees all;
    a sign-in that knows a member's channels (Discord) fills in `channel_ids` and `adult` here."""
    return Viewer(asker.caller)


Bundle = Annotated[StudioBundle, Depends(bundle)]
Events = Annotated[WebEvents, Depends(events)]
Who = Annotated[Caller, Depends(require_caller)]
Sees = Annotated[Viewer, Depends(require_viewer)]
Authenticated = [Depends(require_asker)]  # a router's `dependencies=`: nobody unauthenticated gets past it
