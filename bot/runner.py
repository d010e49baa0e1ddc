"""Starting the Discord bot, and syncing its commands, from settings."""

from __future__ import annotations

import logging

from bot.settings import Settings

log = logging.getLogger(__name__)


async def run_bot(settings: Settings) -> None:
    """Run until interrupted: services, then the bot, then the job queue (recovered jobs included)."""
    from bot.client import StudioBot
    from bot.delivery import DiscordDelivery
    from bot.services.container import open_services

    token = settings.require_token()
    async with open_services(settings) as services:
        bot = StudioBot(
            settings=settings, jobs=services.jobs, models=services.models, guild_settings=services.guild_settings
        )
        services.jobs.set_delivery(DiscordDelivery(bot))
        async with bot:
            await bot.login(token)
            await services.jobs.start()
            log.info("logged in as %s; serving", bot.user)
            await bot.connect(reconnect=True)


async def sync_commands(settings: Settings, guild_id: int | None) -> list[str]:
    """Log in, push the slash commands to Discord (one guild or globally), and log out."""
    import discord

    from bot.client import StudioBot
    from bot.services.container import open_services

    token = settings.require_token()
    async with open_services(settings) as services:
        bot = StudioBot(
            settings=settings, jobs=services.jobs, models=services.models, guild_settings=services.guild_settings
        )
        async with bot:
            await bot.login(token)
            if guild_id is not None:
                guild = discord.Object(id=guild_id)
                bot.tree.copy_global_to(guild=guild)
                synced = await bot.tree.sync(guild=guild)
            else:
                synced = await bot.tree.sync()
            return [command.name for command in synced]
