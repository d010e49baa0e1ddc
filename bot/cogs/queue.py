"""/queue: what runs, what waits, and the caller's own jobs with a cancel button each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui.buttons import queue_view
from bot.ui.caller import caller_from
from bot.ui.render import clip, fmt_eta
from studio.jobs.api import QueueEntry, QueueView

if TYPE_CHECKING:
    from bot.client import StudioBot

SHOWN = 10


def _line(entry: QueueEntry, *, own: bool = False) -> str:
    where = "running" if entry.status == "running" else f"#{entry.position}"
    who = "" if own else f" <@{entry.requester_id}>"
    return f"`{entry.job_id}` {where} · {entry.kind}{who} · ETA {fmt_eta(entry.eta_s)} · {clip(entry.summary, 60)}"


def _block(entries: tuple[QueueEntry, ...], *, own: bool = False) -> str:
    if not entries:
        return "—"
    lines = [_line(e, own=own) for e in entries[:SHOWN]]
    if len(entries) > SHOWN:
        lines.append(f"… and {len(entries) - SHOWN} more")
    return clip("\n".join(lines), 1024)


def queue_embed(view: QueueView) -> discord.Embed:
    embed = discord.Embed(title="Queue", colour=0x5865F2)
    embed.add_field(name=f"Running ({len(view.running)})", value=_block(view.running), inline=False)
    embed.add_field(name=f"Waiting ({len(view.waiting)})", value=_block(view.waiting), inline=False)
    embed.add_field(name=f"Yours ({len(view.mine)})", value=_block(view.mine, own=True), inline=False)
    return embed


class QueueCog(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue", description="Show the queue and cancel your own jobs")
    async def queue(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self.bot.services.jobs.queue(caller_from(interaction))
        buttons = queue_view([entry.job_id for entry in view.mine])
        if buttons is None:
            await interaction.followup.send(embed=queue_embed(view), ephemeral=True)
        else:
            await interaction.followup.send(embed=queue_embed(view), view=buttons, ephemeral=True)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(QueueCog(bot))
