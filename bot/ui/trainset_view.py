"""How training sets look in Discord: the list, a set's contact sheet and items, the verdict, delete confirmation."""

from __future__ import annotations

import io
import re
from typing import Any

import discord
from discord import app_commands

from bot.ui import custom_ids
from bot.ui.caller import caller_from, services_of
from bot.ui.feedback import Funnel
from bot.ui.render import MAX_AUTOCOMPLETE, clip, fmt_eta
from studio.names import name_key, path_slug
from studio.trainsets.api import (
    OUTLIER_MIN_SET,
    SetVerdict,
    SheetStarted,
    TrainsetInfo,
    TrainsetItem,
    TrainsetView,
)

COLOUR = 0x5865F2
MAX_LISTED = 40  # items listed under the sheet; the sheet itself shows them all


def _marks(info: TrainsetInfo) -> str:
    marks = []
    if info.active:
        marks.append("✅ active")
    if info.locked:
        marks.append("🔒 locked")
    return f" ({', '.join(marks)})" if marks else ""


def list_embed(sets: list[TrainsetInfo]) -> discord.Embed:
    embed = discord.Embed(title="Training sets", colour=COLOUR)
    if not sets:
        embed.description = "No sets yet: `/trainset create name` starts one (it becomes your active set)."
        return embed
    lines = [f"**{s.name}** · {s.size} image(s) · <@{s.owner_id}>{_marks(s)}" for s in sets]
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text="React ⭐ (single image) or 1️⃣–8️⃣ (grid) on results to add to your active set.")
    return embed


def info_line(info: TrainsetInfo) -> str:
    parts = [f"**{info.name}**{_marks(info)}", f"{info.size} image(s)", f"owner <@{info.owner_id}>"]
    if info.trigger_word:
        parts.append(f"trigger `{info.trigger_word}`")
    if info.base_model:
        parts.append(f"base `{info.base_model}`")
    return " · ".join(parts)


def verdict_text(verdict: SetVerdict) -> str:
    lines = [("✅ " if verdict.ready else "⚠️ ") + verdict.summary]
    for flagged in verdict.flagged[:20]:
        lines.append(f"#{flagged.number}: {'; '.join(flagged.notes)}")
    if len(verdict.flagged) > 20:
        lines.append(f"… and {len(verdict.flagged) - 20} more")
    if verdict.count >= OUTLIER_MIN_SET and not verdict.outliers_checked:
        lines.append("(no image embedder is installed: images unlike the rest were not looked for)")
    return clip("\n".join(lines), 1024)


def _item_line(item: TrainsetItem) -> str:
    caption = clip(item.caption, 80) if item.caption else "(caption pending)"
    mark = "✏️ " if item.caption_by_member else ""
    when = discord.utils.format_dt(item.added_at, "R")
    return f"`{item.number}` {mark}{caption} · <@{item.added_by}> {when}"


def show_message(view: TrainsetView) -> tuple[discord.Embed, list[discord.File]]:
    """The embed (items, who added each and when, the verdict) and the numbered contact sheet."""
    embed = discord.Embed(title=f"Training set {view.info.name}", colour=COLOUR, description=info_line(view.info))
    if view.items:
        lines = [_item_line(item) for item in view.items[:MAX_LISTED]]
        if len(view.items) > MAX_LISTED:
            lines.append(f"… and {len(view.items) - MAX_LISTED} more (numbers on the sheet)")
        embed.add_field(name="Images", value=clip("\n".join(lines), 1024), inline=False)
    embed.add_field(name="Check", value=verdict_text(view.verdict), inline=False)
    files = []
    if view.contact_sheet is not None:
        name = f"{path_slug(view.info.name)}_sheet.png"  # the set's name may hold any character
        files.append(discord.File(io.BytesIO(view.contact_sheet), filename=name))
        embed.set_image(url=f"attachment://{name}")
    return embed, files


class DeleteSetButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["tsdel"]):
    """Confirms /trainset delete; the service checks again who may."""

    def __init__(self, set_id: int) -> None:
        self.set_id = set_id
        super().__init__(
            discord.ui.Button(
                label="Delete the set and its images",
                style=discord.ButtonStyle.danger,
                custom_id=custom_ids.simple_id("tsdel", set_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        name = await services_of(interaction).trainsets.delete(caller_from(interaction), self.set_id)
        await interaction.edit_original_response(content=f"Deleted the training set **{name}**.", view=None)


def delete_view(info: TrainsetInfo) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(DeleteSetButton(info.id))
    return view


class QuickSelectButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["qs"]):
    """Under a character sheet's last group: its first 25 images go into the set."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                label="Quick select",
                emoji="📥",
                style=discord.ButtonStyle.success,
                custom_id=custom_ids.simple_id("qs", job_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        sheets = services_of(interaction).sheets
        name, added, made = await sheets.quick_select(caller_from(interaction), self.job_id)
        picked = min(made, 25)
        skipped = f" ({picked - added} were in it already, or it is full)" if added < picked else ""
        await interaction.followup.send(
            f"Added {added} of the sheet's {made} image(s) to **{name}**{skipped}. Refine it with reactions and "
            "`/trainset remove`; `/trainset show` has the numbers.",
            ephemeral=True,
        )


def sheet_started_text(started: SheetStarted, set_name: str | None) -> str:
    groups = ", ".join(f"{name} {count}" for name, count in started.groups)
    total = sum(count for _, count in started.groups)
    target = f"**{set_name}**" if set_name else "your active set"
    return (
        f"Character sheet: {total} images in {len(started.groups)} groups ({groups}), about "
        f"{fmt_eta(started.eta_s).lstrip('≈ ')} until the last one. Each group is posted as it is done; other "
        f"members' jobs run in between. Method: {started.method}. **Quick select** under the last group adds the "
        f"first 25 to {target}."
    )


async def set_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """A set-name option's autocomplete: this server's sets whose name holds what was typed."""
    if interaction.guild_id is None:
        return []
    needle = current.strip().lower()
    sets = await services_of(interaction).trainsets.list(caller_from(interaction))
    found = [s for s in sets if name_key(needle) in name_key(s.name)]  # names are kept as typed
    return [app_commands.Choice(name=s.name, value=s.name) for s in found][:MAX_AUTOCOMPLETE]


TRAINSET_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (DeleteSetButton, QuickSelectButton)
