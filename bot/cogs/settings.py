"""/settings: show or change this server's settings (Manage Server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui.caller import caller_from
from bot.ui.render import clip
from studio.errors import Refused
from studio.guild_settings_api import SettingView

if TYPE_CHECKING:
    from bot.client import StudioBot


def settings_embed(settings: list[SettingView], *, title: str = "Server settings") -> discord.Embed:
    embed = discord.Embed(title=title, colour=0x5865F2)
    for setting in settings[:25]:
        embed.add_field(
            name=clip(setting.name, 256), value=clip(f"`{setting.value}`\n{setting.help}", 1024), inline=False
        )
    return embed


class SettingsCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="settings", description="Show or change this server's studio settings")
    @app_commands.describe(name="The setting to change", value="Its new value")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def settings(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100] | None = None,
        value: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        caller = caller_from(interaction)
        # default_permissions only hides the command; Discord lets admins override it per role.
        if not caller.may_manage_server:
            raise Refused("You need the Manage Server permission to use /settings.")
        if interaction.guild_id is None:  # guild_only makes this impossible; keeps the type checker honest
            raise Refused("Use /settings in a server.")
        if (name is None) != (value is None):
            raise Refused("Give both a name and a value to change a setting, or neither to see them all.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        if name is None or value is None:
            current = await self.bot.services.guild_settings.show(interaction.guild_id)
            await interaction.followup.send(embed=settings_embed(current), ephemeral=True)
            return
        updated = await self.bot.services.guild_settings.update(caller, name, value)
        await interaction.followup.send(embed=settings_embed(updated, title=f"Updated `{name}`"), ephemeral=True)

    @settings.autocomplete("name")
    async def name_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        settings = await self.bot.services.guild_settings.show(interaction.guild_id)
        needle = current.lower()
        return [
            app_commands.Choice(name=clip(s.name, 100), value=s.name[:100])
            for s in settings
            if needle in s.name.lower()
        ][:25]


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(SettingsCog(bot))
