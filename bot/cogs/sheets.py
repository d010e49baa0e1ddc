"""/charactersheet: one reference image → variations in groups, each posted as a result, to pick for training."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import render
from bot.ui.attachments import read_attachment
from bot.ui.caller import caller_from
from bot.ui.trainset_view import sheet_started_text

if TYPE_CHECKING:
    from bot.client import StudioBot


class SheetsCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="charactersheet", description="Variations of one character to train on")
    @app_commands.describe(
        image="The reference: one clear picture of the character",
        count="How many variations (4-30, default 30: face angles, expressions, poses, places)",
        set="The training set Quick select fills (default: your active set)",
        model="Which model (default: the server's)",
    )
    @app_commands.guild_only()
    async def charactersheet(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        count: app_commands.Range[int, 4, 30] = 30,
        set: app_commands.Range[str, 1, 64] | None = None,
        model: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = await read_attachment(image, self.bot.settings.max_attachment_bytes)
        started = await self.bot.services.sheets.start(caller_from(interaction), data, count, set, model)
        # The first group shows on this response (queued, progress, result); the plan comes privately.
        await interaction.followup.send(render.clip(sheet_started_text(started, set), 2000), ephemeral=True)

    @charactersheet.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await render.model_choices(self.bot.services.models, current)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(SheetsCog(bot))
