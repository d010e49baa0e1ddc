"""How auto-posts look in Discord: the card `/autopost add` answers with, and the `/autopost list` embed."""

from __future__ import annotations

from datetime import datetime

import discord
from discord import app_commands

from bot.ui.caller import caller_from
from bot.ui.render import clip
from studio.autopost.api import AutopostApi, ScheduleView
from studio.names import name_key

MAX_LISTED = 25  # an embed's fields


def when(moment: datetime) -> str:
    """A run time in the server's zone, with Discord's relative time (shown in each member's own zone)."""
    return f"{moment:%a %d %b %H:%M} {moment.tzname()} (<t:{int(moment.timestamp())}:R>)"


def _model_line(view: ScheduleView) -> str:
    model = view.model or "the server's default"
    if view.lora_share < 100:
        return f"`{model}` in {view.lora_share} % of posts, its base model in the rest"
    return f"`{model}`"


def state_line(view: ScheduleView) -> str:
    if not view.enabled:
        return f"⏸️ paused: {view.paused_reason or 'paused'} (`/autopost resume {view.id}`)"
    return "next: " + (when(view.next_runs[0]) if view.next_runs else "never")


def schedule_embed(view: ScheduleView, title: str) -> discord.Embed:
    """One schedule in full: `/autopost add`, pause, resume."""
    embed = discord.Embed(title=clip(f"{title}: #{view.id} {view.name}", 256), colour=discord.Colour.blurple())
    embed.description = f"**{view.words}** ({view.timezone}) · `{view.cron}`\nin <#{view.channel_id}>"
    embed.add_field(name="Prompt", value=clip(view.prompt, 1024), inline=False)
    embed.add_field(name="Model", value=clip(_model_line(view), 1024), inline=False)
    embed.add_field(name="Images per post", value=str(view.count))
    if view.enabled and view.next_runs:
        embed.add_field(name="Next runs", value="\n".join(when(run) for run in view.next_runs), inline=False)
    else:
        embed.add_field(name="State", value=clip(state_line(view), 1024), inline=False)
    return embed


def list_embed(views: list[ScheduleView]) -> discord.Embed:
    """`/autopost list`: id, name, channel, schedule in words, next run, last run and its result."""
    embed = discord.Embed(title="Auto-posts", colour=discord.Colour.blurple())
    if not views:
        embed.description = "None yet. `/autopost add` makes one (Manage Server)."
        return embed
    for view in views[:MAX_LISTED]:
        last = "never run"
        if view.last_run_at is not None:
            last = f"<t:{int(view.last_run_at.timestamp())}:R>: {view.last_result or 'posted'}"
        elif view.last_result:
            last = view.last_result
        value = f"<#{view.channel_id}> · {view.words} ({view.timezone})\n{state_line(view)}\nlast: {last}"
        embed.add_field(name=clip(f"#{view.id} {view.name}", 256), value=clip(value, 1024), inline=False)
    if len(views) > MAX_LISTED:
        embed.set_footer(text=f"and {len(views) - MAX_LISTED} more; `studio autopost list` shows all")
    return embed


async def schedule_choices(
    api: AutopostApi, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[int]]:
    """The server's schedules matching what was typed (id or name)."""
    needle = current.strip().lower().lstrip("#")
    views = await api.list(caller_from(interaction))
    found = [v for v in views if needle in str(v.id) or name_key(needle) in name_key(v.name)]
    return [app_commands.Choice(name=clip(f"#{v.id} {v.name} · {v.words}", 100), value=v.id) for v in found[:25]]
