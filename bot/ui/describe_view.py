"""The answer to /describe: numbered candidate prompts, a button per prompt, and "Generate all".

The buttons' custom_ids (`studio:dg:…`, `studio:dga:…`) are in bot/ui/custom_ids.py. The prompts are
read from the describe job's row, so the buttons work on any bot instance, after a restart.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.ui import custom_ids
from bot.ui.caller import caller_from, services_of
from bot.ui.feedback import Funnel
from bot.ui.render import clip
from studio.contract import BatchTickets
from studio.images.api import DescribeResult

ROW_WIDTH = 5


async def _start(interaction: discord.Interaction, job_id: int, index: int | None) -> None:
    await interaction.response.defer(thinking=True)
    # The services show the first job on this interaction's response (its token rides on the caller).
    describe = services_of(interaction).describe
    batch: BatchTickets = await describe.generate_described(caller_from(interaction), job_id, index)
    if index is None:
        started = ", ".join(f"#{t.job_id}" for t in batch.tickets)
        text = f"Started {len(batch.tickets)} job(s): {started}."
        if batch.refused:
            text += f" The other prompts were not started: {batch.refused}"
        await interaction.followup.send(clip(text, 2000), ephemeral=True)


class DescribePromptButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["dg"]):
    """<n>: /generate with prompt n of the description."""

    def __init__(self, job_id: int, n: int) -> None:
        self.job_id, self.n = job_id, n
        super().__init__(
            discord.ui.Button(
                label=str(n), style=discord.ButtonStyle.secondary, custom_id=custom_ids.described_id(job_id, n)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["job_id"]), int(match["index"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await _start(interaction, self.job_id, self.n - 1)


class DescribeAllButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["dga"]):
    """Generate all: one /generate job (one image) per prompt."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                label="Generate all",
                emoji="🎨",
                style=discord.ButtonStyle.primary,
                custom_id=custom_ids.simple_id("dga", job_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["job_id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await _start(interaction, self.job_id, None)


DESCRIBE_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (DescribePromptButton, DescribeAllButton)


def describe_embed(result: DescribeResult) -> discord.Embed:
    lines = [f"**{n}.** {prompt}" for n, prompt in enumerate(result.prompts, start=1)]
    embed = discord.Embed(
        title=f"Description #{result.job_id}", description=clip("\n\n".join(lines), 4000), colour=0x5865F2
    )
    embed.set_footer(text="Press a number to generate with that prompt.")
    return embed


def describe_view(result: DescribeResult) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    items: list[discord.ui.Item[Any]] = [
        DescribePromptButton(result.job_id, n) for n in range(1, min(len(result.prompts), 8) + 1)
    ]
    items.append(DescribeAllButton(result.job_id))
    for i, item in enumerate(items):
        item.row = i // ROW_WIDTH
        view.add_item(item)
    return view
