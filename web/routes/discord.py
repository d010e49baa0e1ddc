"""Sign in with Discord: `/auth/login` → Discord → `/auth/callback` → the server picker → a member's session.

Mounted only when the sign-in is on (`web.app.create_app`). These routes are the one way in besides the token, so
they name nobody by design; every answer that is not a redirect is a page with one line saying what to do.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from web.auth import SESSION_MAX_AGE_S, cookie_name
from web.discord_login import LOGIN_COOKIE, LOGIN_MAX_AGE_S, DiscordLogin, Pending
from web.discord_oauth import OAuthFailure
from web.pages import render

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["sign-in"], include_in_schema=False)

AGAIN = "Sign in again from the start page."


def _login(request: Request) -> DiscordLogin:
    found: DiscordLogin = request.app.state.discord
    return found


def _problem(request: Request, line: str, status_code: int = 400) -> HTMLResponse:
    response = render(request, "auth_problem.html", status_code=status_code, line=line)
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    return response


def _set(request: Request, response: Response, name: str, value: str, max_age: int, path: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        # Lax, not Strict: the browser must send the sign-in cookie on the top-level redirect back from Discord.
        samesite="lax",
        secure=request.app.state.settings.web.https,
        path=path,
    )


@router.get("/login")
async def login(request: Request) -> Response:
    """Off to Discord, with a fresh `state` kept in the sign-in cookie."""
    url, cookie = _login(request).start()
    response = RedirectResponse(url, status_code=303)
    _set(request, response, LOGIN_COOKIE, cookie, LOGIN_MAX_AGE_S, "/auth")
    return response


@router.get("/callback")
async def callback(
    request: Request, code: str | None = None, state: str | None = None, error: str | None = None
) -> Response:
    """Discord sends the browser back here: check the state, learn who it is, offer the servers shared with the bot."""
    login = _login(request)
    pending = login.pending(request.cookies.get(LOGIN_COOKIE))
    if error is not None:
        if error == "access_denied":
            return _problem(request, f"You did not allow the sign-in on Discord. {AGAIN}")
        return _problem(request, f"Discord did not sign you in ({error[:60]}). {AGAIN}")
    if not code or not state or not login.state_matches(pending, state):
        # Another tab's or an old sign-in, or someone else's link: never trade a code we did not ask for.
        return _problem(request, f"This sign-in link is not the one this browser started, or it expired. {AGAIN}")
    try:
        identity = await login.oauth.identify(code)
    except OAuthFailure as exc:
        return _problem(request, str(exc), status_code=502)
    shared = [g.id for g in await login.members.guilds() if g.id in identity.guild_ids]
    if not shared:
        return _problem(
            request,
            "None of your Discord servers has this studio's bot: ask a server's manager to invite it, "
            "or sign in with another Discord account.",
            status_code=403,
        )
    pending, cookie = login.signed_in(identity.user_id, tuple(shared))
    if len(shared) == 1:
        return await _enter(request, login, pending, shared[0])
    response = RedirectResponse("/auth/guild", status_code=303)  # the code leaves the address bar
    _set(request, response, LOGIN_COOKIE, cookie, LOGIN_MAX_AGE_S, "/auth")
    return response


@router.get("/guild", response_class=HTMLResponse)
async def guild_picker(request: Request) -> Response:
    """The servers the user shares with the bot, to pick the one to work in."""
    login = _login(request)
    pending = login.pending(request.cookies.get(LOGIN_COOKIE))
    if pending is None or pending.user_id is None:
        return RedirectResponse("/auth/login", status_code=303)
    names = {g.id: g.name for g in await login.members.guilds()}
    guilds = [(gid, names[gid]) for gid in pending.guild_ids if gid in names]
    return render(request, "guild_picker.html", guilds=guilds, nonce=pending.nonce)


@router.post("/guild")
async def pick_guild(request: Request, guild_id: int = Form(...), nonce: str = Form(...)) -> Response:
    login = _login(request)
    pending = login.pending(request.cookies.get(LOGIN_COOKIE))
    if pending is None or pending.user_id is None or not hmac.compare_digest(pending.nonce, nonce):
        return _problem(request, f"This choice of server expired. {AGAIN}")
    if guild_id not in pending.guild_ids:
        return _problem(request, "Pick one of the servers the list shows.")
    return await _enter(request, login, pending, guild_id)


async def _enter(request: Request, login: DiscordLogin, pending: Pending, guild_id: int) -> Response:
    """The bot confirms the user is in `guild_id`; then the member's session cookie, and on to the studio."""
    assert pending.user_id is not None
    if await login.members.member(guild_id, pending.user_id) is None:
        return _problem(request, f"The bot cannot find you in that server any more. {AGAIN}", status_code=403)
    response = RedirectResponse("/", status_code=303)
    _set(
        request,
        response,
        cookie_name(request.url.port),
        login.new_session(pending.user_id, guild_id),
        SESSION_MAX_AGE_S,
        "/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    log.info("member %s signed in to the web for server %s", pending.user_id, guild_id)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(cookie_name(request.url.port), path="/")
    return response
