"""`StudioBot`: the discord.py client, built around the services it is given."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.delivery import DiscordDelivery
from bot.ui import feedback
from bot.ui.buttons import DYNAMIC_ITEMS, submit_remix
from bot.ui.describe_view import DESCRIBE_ITEMS
from bot.ui.training_view import TRAINING_ITEMS, submit_try
from bot.ui.trainset_view import TRAINSET_ITEMS
from studio.background import BackgroundTasks
from studio.bundle import StudioBundle
from studio.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.generate",
    "bot.cogs.images",
    "bot.cogs.models",
    "bot.cogs.queue",
    "bot.cogs.settings",
    "bot.cogs.trainsets",
    "bot.cogs.sheets",
    "bot.cogs.curation",
    "bot.cogs.training",
    "bot.cogs.autopost",
)


class StudioTree(app_commands.CommandTree):
    """The command tree whose `on_error` is the one error funnel."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        await feedback.report_error(interaction, error)


def studio_intents() -> discord.Intents:
    """Default intents without message content: slash commands, buttons, guilds and reactions only."""
    intents = discord.Intents.default()
    intents.message_content = False
    intents.guilds = True
    intents.reactions = True
    return intents


class StudioBot(commands.Bot):
    """Takes its resources in the constructor, loads its cogs in `setup_hook` (advanced_startup.py).

    `services` is the bundle of service APIs the cogs call. `delivery` (made here when not given) is the
    port for the members' and the schedules' jobs: register it with `jobs.delivery` before `jobs.start()`
    (`bot.runner.build_bot` does both).
    """

    def __init__(
        self,
        settings: Settings,
        services: StudioBundle,
        *,
        delivery: DiscordDelivery | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # app commands only; no message content intent
            intents=studio_intents(),
            tree_cls=StudioTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.services = services
        self.delivery = delivery or DiscordDelivery(self, max_upload_bytes=_upload_limit(settings))
        self.delivery.bind(self)
        self._tasks = BackgroundTasks("bot")

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(*DYNAMIC_ITEMS, *DESCRIBE_ITEMS, *TRAINSET_ITEMS, *TRAINING_ITEMS)
        if self.settings.dev_guild_id:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to the development guild %s", len(synced), guild.id)

    def create_task(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Start a background task; keep a reference until it ends and log its exception."""
        return self._tasks.spawn(coro, name=name)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.modal_submit:
            await submit_remix(interaction) or await submit_try(interaction)

    async def on_ready(self) -> None:
        log.info("Logged in as %s (%s)", self.user, self.user.id if self.user else "?")

    async def close(self) -> None:
        self._tasks.cancel_all()
        await super().close()


def _upload_limit(settings: Settings) -> int:
    # Discord refuses bot uploads above ~10 MiB whatever the setting says.
    return min(settings.max_attachment_bytes, 10 * 1024 * 1024)
