"""/autopost: images posted to a channel on a schedule (parse, defer, one service call, render)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import render
from bot.ui.autopost_view import list_embed, schedule_choices, schedule_embed
from bot.ui.caller import caller_from
from bot.ui.render import clip
from studio.autopost.api import MAX_CAPTION, MAX_PROMPT, AutopostApi, ScheduleOptions
from studio.errors import Refused

if TYPE_CHECKING:
    from bot.client import StudioBot

# Channels a bot can post images in (threads too); a voice or forum channel gets a clear refusal.
POSTABLE = {discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.public_thread}
SCHEDULE_ID = app_commands.Range[int, 1, 2**53]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)  # hides it; the services check Manage Server again
class AutopostCog(commands.GroupCog, group_name="autopost", group_description="Post images on a schedule"):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def _api(self) -> AutopostApi:
        return self.bot.services.autopost

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.followup.send(clip(text, 2000), ephemeral=True)

    @app_commands.command(name="add", description="Post images to a channel on a schedule")
    @app_commands.describe(
        channel="Where the images go",
        schedule="Cron ('0 9 * * *') or plain: 'every 6h', 'daily 09:00', 'mon,thu 18:30', 'weekdays 08:00'",
        prompt="A template: {gym|café|beach} picks one, __name__ one of a /autopost wildcard list",
        model="The model or LoRA (default: the server's); looked up at each run",
        lora_scale="The LoRA's strength (default 1.0)",
        count="Images per post",
        lora_share="Percent of posts made with the LoRA; the rest use its base model (default 100)",
        caption="The message text; may use {prompt}, {model}, {date}",
        name="A short name (default: from the prompt)",
    )
    @app_commands.choices(count=[app_commands.Choice(name=str(n), value=n) for n in (1, 2, 4, 8)])
    async def add(
        self,
        interaction: discord.Interaction,
        channel: app_commands.AppCommandChannel,
        schedule: app_commands.Range[str, 1, 100],
        prompt: app_commands.Range[str, 1, MAX_PROMPT],
        model: app_commands.Range[str, 1, 100] | None = None,
        lora_scale: app_commands.Range[float, 0.0, 2.0] | None = None,
        count: int = 1,
        lora_share: app_commands.Range[int, 0, 100] = 100,
        caption: app_commands.Range[str, 1, MAX_CAPTION] | None = None,
        name: app_commands.Range[str, 1, 48] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if channel.type not in POSTABLE:
            raise Refused(f"{channel.mention} cannot take posts: pick a text channel or a thread.")
        options = ScheduleOptions(prompt, model, lora_scale, count, lora_share, caption, name)
        view = await self._api.add(caller_from(interaction), channel.id, schedule, options)
        await interaction.followup.send(embed=schedule_embed(view, "Auto-post added"), ephemeral=True)

    @app_commands.command(name="list", description="This server's auto-posts: schedule, next and last run")
    async def list_schedules(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        views = await self._api.list(caller_from(interaction))
        await interaction.followup.send(embed=list_embed(views), ephemeral=True)

    @app_commands.command(name="remove", description="Delete an auto-post (its past posts stay)")
    async def remove(self, interaction: discord.Interaction, id: SCHEDULE_ID) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self._api.remove(caller_from(interaction), id)
        await self._reply(interaction, f"Removed the auto-post #{view.id} **{view.name}**; its past posts stay.")

    @app_commands.command(name="pause", description="Stop an auto-post until it is resumed")
    async def pause(self, interaction: discord.Interaction, id: SCHEDULE_ID) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self._api.pause(caller_from(interaction), id)
        await interaction.followup.send(embed=schedule_embed(view, "Auto-post paused"), ephemeral=True)

    @app_commands.command(name="resume", description="Start a paused auto-post again")
    async def resume(self, interaction: discord.Interaction, id: SCHEDULE_ID) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self._api.resume(caller_from(interaction), id)
        await interaction.followup.send(embed=schedule_embed(view, "Auto-post resumed"), ephemeral=True)

    @app_commands.command(name="run", description="Post now, outside the schedule")
    async def run(self, interaction: discord.Interaction, id: SCHEDULE_ID) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view, ticket = await self._api.run(caller_from(interaction), id)
        await self._reply(
            interaction,
            f"Posting **{view.name}** now in <#{view.channel_id}> "
            f"(job {ticket.job_id}, {render.fmt_eta(ticket.eta_s)}).",
        )

    @app_commands.command(name="timezone", description="The time zone this server's schedules are read in")
    @app_commands.describe(tz="An IANA name, e.g. Europe/Paris or America/New_York")
    async def timezone(self, interaction: discord.Interaction, tz: app_commands.Range[str, 1, 64]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        name = await self._api.set_timezone(caller_from(interaction), tz)
        await self._reply(interaction, f"Schedules here now run in **{name}** time.")

    @app_commands.command(name="wildcard", description="Define a list a prompt uses as __name__")
    @app_commands.describe(name="The list's name, used as __name__", values="Its values, separated by commas")
    async def wildcard(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 40],
        values: app_commands.Range[str, 1, 4000],
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        slug, items = await self._api.wildcard(caller_from(interaction), name, values)
        listed = ", ".join(items)
        await self._reply(interaction, f"Prompts may now use `__{slug}__`: one of {len(items)} value(s): {listed}")

    @add.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await render.model_choices(self.bot.services.models, current)

    @timezone.autocomplete("tz")
    async def tz_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in await self._api.timezones(current)]

    @remove.autocomplete("id")
    @pause.autocomplete("id")
    @resume.autocomplete("id")
    @run.autocomplete("id")
    async def id_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await schedule_choices(self._api, interaction, current)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(AutopostCog(bot))
