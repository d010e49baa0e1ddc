"""The web studio's composition root: its delivery port registered with the queue, the app, its server.

`attach_web` is all `studio run` needs to serve the web beside the bot; `run_web` is `studio web`: the core and the
web without Discord. Like `bot.runner`, this is the one module of the adapter that may open the services.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from studio.container import Services, as_bundle, open_services
from studio.errors import StudioError
from studio.members_api import MemberDirectory
from studio.owner import announce_web, withdraw_web
from studio.settings import LOOPBACK_HOSTS, Settings
from web.app import create_app
from web.auth import WEB_ORIGIN, LocalAuth, read_token, session_secret
from web.discord_login import CALLBACK_PATH, DiscordLogin
from web.discord_oauth import DiscordOAuth
from web.events import WebEvents
from web.members import CachedMembers
from web.server import WebServer

log = logging.getLogger(__name__)

WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of "every address", to be shown as one that works


def web_url(host: str, port: int, token: str | None = None) -> str:
    """The address to open: a wildcard host is reached as 127.0.0.1; the token trades for a session cookie."""
    if host in WILDCARDS:
        shown = "127.0.0.1"
    elif ":" in host:
        shown = f"[{host.strip('[]')}]"  # an IPv6 address in a URL
    else:
        shown = host
    base = f"http://{shown}:{port}/"
    return f"{base}?token={token}" if token else base


def discord_login_for(settings: Settings, members: MemberDirectory) -> DiscordLogin | None:
    """Sign in with Discord on the bot's member answers (cached a minute), when the settings turn it on."""
    web = settings.web
    if not web.discord_login or web.discord_client_secret is None:
        return None
    oauth = DiscordOAuth(
        web.discord_oauth_base, web.discord_client_id, web.discord_client_secret, web.public_url + CALLBACK_PATH
    )
    return DiscordLogin(oauth, CachedMembers(members), session_secret(settings.data_dir))


def attach_web(
    services: Services, settings: Settings, host: str, port: int, *, members: MemberDirectory | None = None
) -> WebServer:
    """The web on these services: its delivery port registered (call before `jobs.start()`), its server built.

    `members`: the bot's answers about members (`studio run`), which Sign in with Discord needs; without them the web
    has the owner's token only.
    """
    events = WebEvents()
    services.jobs.delivery.register(events, WEB_ORIGIN)
    login = discord_login_for(settings, members) if members is not None else None
    app = create_app(as_bundle(services), LocalAuth(settings.data_dir), events, settings, discord_login=login)
    data = settings.data_dir
    return WebServer(
        app,
        events,
        host,
        port,
        announce=lambda bound: announce_web(data, web_url(host, bound)),  # the command line hands its jobs here
        withdraw=lambda: withdraw_web(data),
    )


def refuse_discord_login_without_bot(settings: Settings, host: str) -> None:
    """`studio web` has no bot to ask about members: Sign in with Discord stays off, and so does a public `host` that
    only the sign-in allowed (a StudioError)."""
    web = settings.web
    if web.discord_login and host.strip("[]") not in LOOPBACK_HOSTS and not web.allow_remote:
        raise StudioError(
            f"Cannot serve {host} without the bot: Sign in with Discord needs it (run `studio run`), and without it "
            "the token alone would guard a public address; use --host 127.0.0.1 or set STUDIO_WEB_ALLOW_REMOTE=1."
        )


async def run_web(settings: Settings, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """`studio web`: own the data folder, serve until interrupted; `on_ready` gets the URL with the token."""
    refuse_discord_login_without_bot(settings, host)
    async with open_services(settings, owner="studio web") as services:
        server = attach_web(services, settings, host, port)
        await services.jobs.start()
        if not await server.start():
            raise StudioError(f"Cannot listen on {host}:{port}: the port is taken; pick another with --port.")
        on_ready(web_url(host, server.port, read_token(settings.data_dir)))
        try:
            await server.wait()
        finally:
            await asyncio.shield(server.stop())  # Ctrl+C: end the event streams and the server before the core
