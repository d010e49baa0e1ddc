"""/generate: parse, defer, one service call; the delivery port shows the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import render
from bot.ui.caller import caller_from
from studio.images.api import ASPECTS, COUNTS, MAX_PROMPT_CHARS, MAX_SEED, GenerateInput, settings_from_text

if TYPE_CHECKING:
    from bot.client import StudioBot


class GenerateCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="generate", description="Generate images from a text prompt")
    @app_commands.describe(
        prompt="What to draw",
        count="How many images (default 4)",
        model="Which model (default: the server's)",
        negative="What to avoid",
        aspect="Image shape",
        seed="Seed for reproducible results",
        steps="Denoising steps (default: the model's)",
        guidance="How closely to follow the prompt (default: the model's)",
        lora_scale="Strength of the model's LoRA",
        settings="The model's own settings as name=value, e.g. clip_skip=2 (/models lists them)",
    )
    @app_commands.choices(
        count=[app_commands.Choice(name=str(n), value=n) for n in COUNTS],
        aspect=[app_commands.Choice(name=a, value=a) for a in ASPECTS],
    )
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        count: app_commands.Choice[int] | None = None,
        model: app_commands.Range[str, 1, 100] | None = None,
        negative: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        aspect: app_commands.Choice[str] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 150] | None = None,
        guidance: app_commands.Range[float, 0.0, 30.0] | None = None,
        lora_scale: app_commands.Range[float, 0.0, 2.0] | None = None,
        settings: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        options = GenerateInput(
            prompt=prompt,
            count=count.value if count is not None else None,
            model=model,
            negative=negative or "",
            aspect=aspect.value if aspect is not None else None,
            seed=seed,
            steps=steps,
            guidance=guidance,
            lora_scale=lora_scale,
            extras=settings_from_text(settings),
        )
        # The caller carries this interaction's token: the service stores it with the job, and the
        # delivery port replaces the "thinking…" with the queue position before submit returns.
        # A refusal raises into the error funnel, which removes the "thinking…".
        await self.bot.services.generate.submit(caller_from(interaction), options)

    @generate.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await render.model_choices(self.bot.services.models, current)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(GenerateCog(bot))
