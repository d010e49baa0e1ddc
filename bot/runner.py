"""Starting the Discord bot, and syncing its commands, from settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from studio.contract import Origin
from studio.settings import Settings

if TYPE_CHECKING:
    from bot.client import StudioBot
    from studio.container import Services

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
        async with bot:
            await bot.login(token)
            await services.jobs.start()
            wakeups = WakeUps(services.autopost, services.db)
            await wakeups.start()
            log.info("logged in as %s; serving", bot.user)
            try:
                await bot.connect(reconnect=True)
            finally:
                await wakeups.stop()


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
