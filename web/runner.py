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
from studio.owner import announce_web, withdraw_web
from studio.settings import Settings
from web.app import create_app
from web.auth import WEB_ORIGIN, LocalAuth, read_token
from web.events import WebEvents
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


def attach_web(services: Services, settings: Settings, host: str, port: int) -> WebServer:
    """The web on these services: its delivery port registered (call before `jobs.start()`), its server built."""
    events = WebEvents()
    services.jobs.delivery.register(events, WEB_ORIGIN)
    app = create_app(as_bundle(services), LocalAuth(settings.data_dir), events, settings)
    data = settings.data_dir
    return WebServer(
        app,
        events,
        host,
        port,
        announce=lambda bound: announce_web(data, web_url(host, bound)),  # the command line hands its jobs here
        withdraw=lambda: withdraw_web(data),
    )


async def run_web(settings: Settings, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """`studio web`: own the data folder, serve until interrupted; `on_ready` gets the URL with the token."""
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
