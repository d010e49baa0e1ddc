"""/describe, /vary, /edit and the "Describe" message command: parse, defer, one service call, render."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import render
from bot.ui.attachments import first_image, read_attachment
from bot.ui.caller import caller_from
from bot.ui.describe_view import describe_embed, describe_view
from studio.errors import StudioError
from studio.images.api import COUNTS, MAX_DESCRIBE, MAX_INSTRUCTION, MAX_REGION, EditImageInput, VaryImageInput

if TYPE_CHECKING:
    from bot.client import StudioBot


class ImagesCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.describe_menu = app_commands.ContextMenu(name="Describe", callback=self.describe_message)
        bot.tree.add_command(self.describe_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.describe_menu.name, type=self.describe_menu.type)

    @property
    def _limit(self) -> int:
        return self.bot.settings.max_attachment_bytes

    async def _describe(self, interaction: discord.Interaction, attachment: discord.Attachment, count: int) -> None:
        if not 1 <= count <= MAX_DESCRIBE:  # Discord enforces the range; a forged payload must not cost a download
            raise StudioError(f"Count must be a whole number from 1 to {MAX_DESCRIBE} (got {count}).")
        data = await read_attachment(attachment, self._limit)
        result = await self.bot.services.describe.describe(caller_from(interaction), data, count)
        await interaction.edit_original_response(embed=describe_embed(result), view=describe_view(result))

    @app_commands.command(name="describe", description="Turn an image into prompts you can generate with")
    @app_commands.describe(image="A PNG, JPEG or WebP image", count="How many prompts (1-8, default 4)")
    async def describe(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        count: app_commands.Range[int, 1, 8] = 4,
    ) -> None:
        await interaction.response.defer(thinking=True)
        await self._describe(interaction, image, count)

    async def describe_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.defer(thinking=True)
        await self._describe(interaction, first_image(message), 4)

    @app_commands.command(name="vary", description="Change an image with an instruction (style, context, ...)")
    @app_commands.describe(
        image="The image to start from",
        instruction="What to change, e.g. 'make it a watercolor' or 'put it on a beach'",
        strength="How far to move from the image (0.05-1; default: suggested by the instruction)",
        count="How many images (default 4)",
        model="Which model (default: the server's)",
    )
    @app_commands.choices(count=[app_commands.Choice(name=str(n), value=n) for n in COUNTS])
    async def vary(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        instruction: app_commands.Range[str, 1, MAX_INSTRUCTION],
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        count: app_commands.Choice[int] | None = None,
        model: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = await read_attachment(image, self._limit)
        options = VaryImageInput(
            instruction=instruction,
            strength=strength,
            count=count.value if count is not None else None,
            model=model,
        )
        # The services show the job (queued, progress, result) on this interaction's response.
        await self.bot.services.edits.vary_image(caller_from(interaction), data, options)

    @app_commands.command(name="edit", description="Repaint part of an image: give a mask or name the region")
    @app_commands.describe(
        image="The image to edit",
        instruction="What to paint there, e.g. 'a red umbrella'",
        mask="A black image, white where the picture should change",
        region="Or: the part to change, in words (e.g. 'the sky')",
        model="Which model (default: the server's)",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        instruction: app_commands.Range[str, 1, MAX_INSTRUCTION],
        mask: discord.Attachment | None = None,
        region: app_commands.Range[str, 1, MAX_REGION] | None = None,
        model: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        options = EditImageInput(instruction=instruction, region=region, model=model)
        if (mask is None) == (region is None):
            # Checked here too so nothing is downloaded for a request that cannot run.
            await self.bot.services.edits.edit_image(
                caller_from(interaction), b"", options, None if mask is None else b""
            )
            return
        data = await read_attachment(image, self._limit)
        mask_data = await read_attachment(mask, self._limit, "mask") if mask is not None else None
        await self.bot.services.edits.edit_image(caller_from(interaction), data, options, mask_data)

    @vary.autocomplete("model")
    @edit.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await render.model_choices(self.bot.services.models, current)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(ImagesCog(bot))
