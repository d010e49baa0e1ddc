"""Starting the Discord bot, and syncing its commands, from settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from studio.contract import Origin
from studio.settings import Settings

if TYPE_CHECKING:
    from bot.client import StudioBot
    from studio.container import Services
    from web.server import WebServer

log = logging.getLogger(__name__)

DISCORD_ORIGINS: tuple[Origin, ...] = ("interaction", "schedule")


def build_bot(settings: Settings, services: Services) -> StudioBot:
    """The bot on these services, its delivery port registered with the job service (before `jobs.start()`)."""
    from bot.client import StudioBot
    from studio.container import as_bundle

    bot = StudioBot(settings, as_bundle(services))
    # Members' commands and buttons, and the schedules' posts and notices, are shown in Discord.
    services.jobs.delivery.register(bot.delivery, *DISCORD_ORIGINS)
    return bot


async def run_bot(settings: Settings) -> None:
    """Run until interrupted: services, the bot and its delivery port, login, the job queue, the gateway.

    The queue starts after login (delivery needs the REST client and the application id) and before
    the gateway connects, so jobs recovered from the last run are shown while the bot comes online.
    """
    from studio.autopost.wakeups import WakeUps
    from studio.container import open_services

    token = settings.require_token()
    # The bot owns the data folder for its life: a `studio generate` beside it is refused, not handed its jobs.
    async with open_services(settings, owner="studio run") as services:
        bot = build_bot(settings, services)
        web = _web_beside(settings, services, bot)
        async with bot:
            await bot.login(token)
            await services.jobs.start()
            wakeups = WakeUps(services.autopost, services.db)
            await wakeups.start()
            if web is not None:
                await start_web(web, settings)
            log.info("logged in as %s; serving", bot.user)
            try:
                await bot.connect(reconnect=True)
            finally:
                if web is not None:
                    await web.stop()  # ends its event streams first: Ctrl+C stops both promptly
                await wakeups.stop()


def _web_beside(settings: Settings, services: Services, bot: StudioBot) -> WebServer | None:
    """The web studio on STUDIO_WEB_PORT, its delivery port registered (before `jobs.start()`); None when unset.

    The bot answers for members (`bot.members`): Sign in with Discord, when configured, asks it who may do what."""
    if settings.web.port is None:
        return None
    from bot.members import DiscordMembers
    from web.runner import attach_web

    return attach_web(services, settings, settings.web.host, settings.web.port, members=DiscordMembers(bot))


async def start_web(web: WebServer, settings: Settings) -> bool:
    """Serve the web beside the bot; a taken port (or any failure to start) is logged, and the bot goes on."""
    from web.auth import read_token
    from web.runner import web_url

    try:
        started = await web.start()
    except Exception:
        log.exception("the web studio failed to start; the bot goes on without it")
        return False
    if not started:
        log.error("the web studio could not listen on port %s; the bot goes on without it", settings.web.port)
        return False
    url = web_url(settings.web.host, web.port, read_token(settings.data_dir))
    print(f"web studio: {url}", flush=True)  # noqa: T201 - the console, never the log: the URL holds the token
    return True


async def sync_commands(settings: Settings, guild_id: int | None) -> list[str]:
    """Log in, push the slash commands to Discord (one guild or globally), and log out."""
    import discord

    from studio.container import open_services

    token = settings.require_token()
    async with open_services(settings) as services:
        bot = build_bot(settings, services)
        async with bot:
            await bot.login(token)
            if guild_id is not None:
                guild = discord.Object(id=guild_id)
                bot.tree.copy_global_to(guild=guild)
                synced = await bot.tree.sync(guild=guild)
            else:
                synced = await bot.tree.sync()
            return [command.name for command in synced]
