"""/models: the catalog, base models first, as paged embeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui.render import clip
from studio.models.api import ModelInfo

if TYPE_CHECKING:
    from bot.client import StudioBot

FIELDS_PER_EMBED = 10
MAX_EMBED_CHARS = 5500  # Discord: 6000 characters over all embeds of one message
MAX_EMBEDS = 10


def _describe(model: ModelInfo) -> str:
    lines = [f"`{model.name}` · {model.family}"]
    facts = []
    if model.vram_gb is not None:
        facts.append(f"VRAM {model.vram_gb:g} GB")
    if model.quality is not None:
        facts.append(f"quality {model.quality}/5")
    if model.speed is not None:
        facts.append(f"speed {model.speed}/5")
    if facts:
        lines.append(" · ".join(facts))
    defaults = []
    if model.default_steps is not None:
        defaults.append(f"{model.default_steps} steps")
    if model.default_guidance is not None:
        defaults.append(f"guidance {model.default_guidance:g}")
    if model.default_size is not None:
        defaults.append(f"{model.default_size[0]}×{model.default_size[1]}")
    if defaults:
        lines.append("defaults: " + ", ".join(defaults))
    if model.trigger_word:
        lines.append(f"trigger word: `{model.trigger_word}`")
    if model.base_model:
        lines.append(f"on `{model.base_model}`")
    if model.description:
        lines.append(model.description)
    if model.settings:
        lines.append("own settings (`settings:` of /generate): " + "; ".join(model.settings))
    if model.memory:
        lines.append(f"memory: {model.memory}")
    if model.licence:
        lines.append(f"licence: {model.licence}")
    return clip("\n".join(lines), 1024)


def catalog_embeds(models: list[ModelInfo]) -> list[discord.Embed]:
    """One embed per kind and page of ten models."""
    embeds: list[discord.Embed] = []
    for kind, title in (("base", "Base models"), ("lora", "Trained models (LoRA)")):
        group = [m for m in models if (m.kind == "base") == (kind == "base")]
        for start in range(0, len(group), FIELDS_PER_EMBED):
            page = group[start : start + FIELDS_PER_EMBED]
            suffix = f" ({start // FIELDS_PER_EMBED + 1})" if len(group) > FIELDS_PER_EMBED else ""
            embed = discord.Embed(title=title + suffix, colour=0x5865F2)
            for model in page:
                embed.add_field(name=clip(model.display_name or model.name, 256), value=_describe(model), inline=False)
            embeds.append(embed)
    return embeds


def pack_messages(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds into messages within Discord's 10-embed and 6000-character limits."""
    messages: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    size = 0
    for embed in embeds:
        if current and (len(current) >= MAX_EMBEDS or size + len(embed) > MAX_EMBED_CHARS):
            messages.append(current)
            current, size = [], 0
        current.append(embed)
        size += len(embed)
    if current:
        messages.append(current)
    return messages


class ModelsCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="models", description="List the models you can generate with")
    async def models(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        catalog = await self.bot.services.models.catalog()
        messages = pack_messages(catalog_embeds(catalog))
        if not messages:
            await interaction.followup.send("No models are installed yet: ask an admin to add one.", ephemeral=True)
            return
        for embeds in messages:
            await interaction.followup.send(embeds=embeds, ephemeral=True)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(ModelsCog(bot))
