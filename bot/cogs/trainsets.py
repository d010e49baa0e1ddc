"""/trainset: build a training set in Discord (parse, defer, one service call, render)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui.attachments import read_attachment
from bot.ui.caller import caller_from
from bot.ui.render import clip
from bot.ui.trainset_view import delete_view, info_line, list_embed, set_choices, show_message, verdict_text
from studio.trainsets.api import MAX_CAPTION, MAX_ITEMS, MAX_TRIGGER, TrainsetsApi

if TYPE_CHECKING:
    from bot.client import StudioBot

NAME = app_commands.Range[str, 1, 64]


@app_commands.guild_only()
class TrainsetsCog(commands.GroupCog, group_name="trainset", group_description="Build a set of images to train on"):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def _sets(self) -> TrainsetsApi:
        return self.bot.services.trainsets

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.followup.send(clip(text, 2000), ephemeral=True)

    @app_commands.command(name="create", description="Start a training set (it becomes your active set)")
    @app_commands.describe(
        name="A short name (letters, digits, dashes)",
        trigger_word="The word that will call up what the set shows, e.g. 'mychar'",
        base_model="The base model to train on (default: the server's)",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        name: NAME,
        trigger_word: app_commands.Range[str, 1, MAX_TRIGGER] | None = None,
        base_model: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self._sets.create(caller_from(interaction), name, trigger_word, base_model)
        await self._reply(
            interaction,
            f"Created {info_line(info)}. React ⭐ on a single image or 1️⃣–8️⃣ on a grid to add images, "
            "or `/trainset add` an upload.",
        )

    @app_commands.command(name="use", description="Make a set your active set (your reactions feed it)")
    async def use(self, interaction: discord.Interaction, name: NAME) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self._sets.use(caller_from(interaction), name)
        await self._reply(interaction, f"Your reactions now feed {info_line(info)}.")

    @app_commands.command(name="list", description="The training sets of this server")
    async def list_sets(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        sets = await self._sets.list(caller_from(interaction))
        await interaction.followup.send(embed=list_embed(sets), ephemeral=True)

    @app_commands.command(name="show", description="A set's images, numbered, with who added them and the check")
    @app_commands.describe(name="The set (default: your active set)")
    async def show(self, interaction: discord.Interaction, name: NAME | None = None) -> None:
        await interaction.response.defer(thinking=True)
        view = await self._sets.show(caller_from(interaction), name)
        embed, files = show_message(view)
        await interaction.edit_original_response(embed=embed, attachments=files)

    @app_commands.command(name="check", description="Check a set before training: count, duplicates, blur, ...")
    @app_commands.describe(name="The set (default: your active set)")
    async def check(self, interaction: discord.Interaction, name: NAME | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        verdict = await self._sets.check(caller_from(interaction), name)
        await self._reply(interaction, verdict_text(verdict))

    @app_commands.command(name="add", description="Upload an image to a set")
    @app_commands.describe(image="A PNG, JPEG or WebP image", name="The set (default: your active set)")
    async def add(self, interaction: discord.Interaction, image: discord.Attachment, name: NAME | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(image, self.bot.settings.max_attachment_bytes)
        item = await self._sets.add(caller_from(interaction), data, name)
        await self._reply(interaction, f"Added as image {item.number}; its caption is on its way.")

    @app_commands.command(name="remove", description="Remove image n from a set")
    @app_commands.describe(number="The image's number in /trainset show", name="The set (default: your active set)")
    async def remove(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1, MAX_ITEMS], name: NAME | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        item = await self._sets.remove(caller_from(interaction), number, name)
        await self._reply(interaction, f"Removed image {item.number}; the images after it move up one number.")

    @app_commands.command(name="caption", description="Correct the caption of image n (yours is kept)")
    async def caption(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1, MAX_ITEMS],
        text: app_commands.Range[str, 1, MAX_CAPTION],
        name: NAME | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        item = await self._sets.caption(caller_from(interaction), number, text, name)
        await self._reply(interaction, f"Image {item.number} is captioned: {item.caption}")

    @app_commands.command(name="lock", description="Only you (the owner) may add to the set")
    async def lock(self, interaction: discord.Interaction, name: NAME) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self._sets.lock(caller_from(interaction), name, True)
        await self._reply(interaction, f"Locked {info_line(info)}.")

    @app_commands.command(name="unlock", description="Let every member add to the set again")
    async def unlock(self, interaction: discord.Interaction, name: NAME) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self._sets.lock(caller_from(interaction), name, False)
        await self._reply(interaction, f"Unlocked {info_line(info)}.")

    @app_commands.command(name="delete", description="Delete a set and its images (asks to confirm)")
    async def delete(self, interaction: discord.Interaction, name: NAME) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self._sets.deletable(caller_from(interaction), name)
        await interaction.followup.send(
            f"Delete {info_line(info)}? Its {info.size} image(s) go too; the results they came from stay.",
            view=delete_view(info),
            ephemeral=True,
        )

    @use.autocomplete("name")
    @show.autocomplete("name")
    @check.autocomplete("name")
    @add.autocomplete("name")
    @remove.autocomplete("name")
    @caption.autocomplete("name")
    @lock.autocomplete("name")
    @unlock.autocomplete("name")
    @delete.autocomplete("name")
    async def name_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await set_choices(interaction, current)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(TrainsetsCog(bot))
