"""The buttons under results and status messages, as DynamicItems.

A button's state is its custom_id (see `bot.ui.custom_ids`) plus what the services know, so a click
works on any bot instance, also after a restart. Every callback answers within 3 s (defer first)
and ends in the error funnel.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import discord

from bot.ui import custom_ids, feedback, render
from bot.ui.caller import caller_from, services_of
from bot.ui.feedback import Funnel
from studio.images.api import JobResult

log = logging.getLogger(__name__)

ROW_WIDTH = 5
MAX_ROWS = 5


class UpscaleButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["u"]):
    """U<n>: the image alone, full size, in a new message with its own V buttons.

    Buttons number images from 1 as users see them; the services index them from 0. The new message is
    recorded as a post of that one image, so a ⭐ on it picks the image (also after a restart).
    """

    def __init__(self, job_id: int, index: int) -> None:
        self.job_id, self.index = job_id, index
        super().__init__(
            discord.ui.Button(
                label=f"U{index}", style=discord.ButtonStyle.secondary, custom_id=custom_ids.upscale_id(job_id, index)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        parsed = custom_ids.parse(match.group(0))
        return cls(parsed.job_id, parsed.index or 1)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        services = services_of(interaction)
        image = await services.followups.upscale(caller_from(interaction), self.job_id, self.index - 1)
        spoiler = (await services.followups.result(self.job_id)).spoiler
        file = await render.image_file(image.path, render.image_filename(self.job_id, image, spoiler))
        message = await interaction.edit_original_response(
            content=f"Image {self.index} of job #{self.job_id} ({image.width}×{image.height}, seed {image.seed})",
            attachments=[file],
            view=single_image_view(self.job_id, self.index),
        )
        await services.posts.record(
            message.id, (image.image_id,), "single", channel_id=interaction.channel_id, guild_id=interaction.guild_id
        )


class VaryButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["v"]):
    """V<n> (subtle) and V<n>+ (strong): variations of image n as a new job."""

    def __init__(self, job_id: int, index: int, strength: str) -> None:
        self.job_id, self.index, self.strength = job_id, index, strength
        strong = strength == "strong"
        super().__init__(
            discord.ui.Button(
                label=f"V{index}{'+' if strong else ''}",
                style=discord.ButtonStyle.primary if strong else discord.ButtonStyle.secondary,
                custom_id=custom_ids.vary_id(job_id, index, "strong" if strong else "subtle"),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        parsed = custom_ids.parse(match.group(0))
        return cls(parsed.job_id, parsed.index or 1, parsed.strength or "subtle")

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        strength = "strong" if self.strength == "strong" else "subtle"
        # The service shows the new job on this click's "thinking…" response (the caller carries its token).
        await services_of(interaction).followups.vary(caller_from(interaction), self.job_id, self.index - 1, strength)


class RerollButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["reroll"]):
    """🔄: the same settings with a new seed, as a new job."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                emoji="🔄", style=discord.ButtonStyle.secondary, custom_id=custom_ids.simple_id("reroll", job_id)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await services_of(interaction).followups.reroll(caller_from(interaction), self.job_id)


REMIX_PROMPT_ID = "prompt"


class RemixModal(discord.ui.Modal):
    """Edit the prompt of a job and run it again. Its submit is answered by `submit_remix`."""

    def __init__(self, job_id: int, prompt: str) -> None:
        super().__init__(title=f"Remix job #{job_id}", timeout=600, custom_id=custom_ids.simple_id("remixm", job_id))
        self.job_id = job_id
        self.prompt: discord.ui.TextInput = discord.ui.TextInput(
            label="Prompt",
            style=discord.TextStyle.paragraph,
            default=prompt[:1000],
            max_length=1000,
            required=True,
            custom_id=REMIX_PROMPT_ID,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        # Nothing here: a modal opened before a restart has no object to come back to, so every
        # remix submit is answered from its payload by `submit_remix` (StudioBot.on_interaction).
        return


def modal_text(data: dict, custom_id: str) -> str:
    """The value of one text input in a modal-submit payload (plain action rows or label components)."""
    for row in data.get("components", []):
        children = [row["component"]] if isinstance(row.get("component"), dict) else row.get("components", [])
        for child in children:
            if child.get("custom_id") == custom_id:
                return str(child.get("value") or "")
    return ""


async def submit_remix(interaction: discord.Interaction) -> bool:
    """Run a remix from a submitted remix modal; False when the submit is not one."""
    data = interaction.data or {}
    try:
        parsed = custom_ids.parse(str(data.get("custom_id", "")))
    except ValueError:
        return False
    if parsed.action != "remixm":
        return False
    try:
        await interaction.response.defer(thinking=True)
        prompt = modal_text(data, REMIX_PROMPT_ID)
        await services_of(interaction).followups.remix(caller_from(interaction), parsed.job_id, prompt)
    except Exception as error:  # the one funnel: a short reply, and a traceback for the unexpected
        await feedback.report_error(interaction, error, job_item=True)
    return True


class RemixButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["remix"]):
    """✏️: a modal prefilled with the job's prompt."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                emoji="✏️", style=discord.ButtonStyle.secondary, custom_id=custom_ids.simple_id("remix", job_id)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        # A modal must be the first response, so no defer: remix_prompt is one quick read.
        prompt = await services_of(interaction).followups.remix_prompt(self.job_id)
        await interaction.response.send_modal(RemixModal(self.job_id, prompt))


class DeleteButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["del"]):
    """🗑: delete the job (the service checks who may) and its message."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                emoji="🗑️", style=discord.ButtonStyle.danger, custom_id=custom_ids.simple_id("del", job_id)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await services_of(interaction).followups.delete(caller_from(interaction), self.job_id)
        if interaction.message is not None:
            await interaction.message.delete()


class CancelButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["cancel"]):
    """✖ on a queued or running job's message; the service reports back through `cancelled`."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                emoji="✖️",
                label="Cancel",
                style=discord.ButtonStyle.danger,
                custom_id=custom_ids.simple_id("cancel", job_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await services_of(interaction).jobs.cancel(caller_from(interaction), self.job_id)


class QueueCancelButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["qcancel"]):
    """Cancel one of the caller's own jobs from the /queue listing."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            discord.ui.Button(
                label=f"Cancel #{job_id}"[:80],
                style=discord.ButtonStyle.danger,
                custom_id=custom_ids.simple_id("qcancel", job_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await services_of(interaction).jobs.cancel(caller_from(interaction), self.job_id)
        await interaction.followup.send(f"Cancelled job #{self.job_id}.", ephemeral=True)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    UpscaleButton,
    VaryButton,
    RerollButton,
    RemixButton,
    DeleteButton,
    CancelButton,
    QueueCancelButton,
)


def _rows_of(items: list[discord.ui.Item[Any]], first_row: int, view: discord.ui.View) -> int:
    """Add `items` in rows of up to five from `first_row`; return the next free row."""
    for i, item in enumerate(items):
        item.row = first_row + i // ROW_WIDTH
        view.add_item(item)
    return first_row + math.ceil(len(items) / ROW_WIDTH)


def result_view(result: JobResult) -> discord.ui.View:
    """U1…Un, V1…Vn, (V1+…Vn+ when rows allow), then 🔄 ✏️ 🗑 — at most 5 rows of 5."""
    view = discord.ui.View(timeout=None)
    indexes = sorted(img.index + 1 for img in result.images)[: custom_ids.MAX_INDEX]  # 1-based, as shown
    rows_each = math.ceil(len(indexes) / ROW_WIDTH)
    with_strong = 3 * rows_each + 1 <= MAX_ROWS
    row = 0
    if indexes:
        row = _rows_of([UpscaleButton(result.job_id, i) for i in indexes], row, view)
        row = _rows_of([VaryButton(result.job_id, i, "subtle") for i in indexes], row, view)
        if with_strong:
            row = _rows_of([VaryButton(result.job_id, i, "strong") for i in indexes], row, view)
    last: list[discord.ui.Item[Any]] = [
        RerollButton(result.job_id),
        RemixButton(result.job_id),
        DeleteButton(result.job_id),
    ]
    if result.quick_select:
        from bot.ui.trainset_view import QuickSelectButton  # the training-set views build on this module

        last.append(QuickSelectButton(result.job_id))
    _rows_of(last, row, view)
    return view


def single_image_view(job_id: int, index: int) -> discord.ui.View:
    """Under an upscaled image (`index` 1-based): subtle and strong variations of it."""
    view = discord.ui.View(timeout=None)
    view.add_item(VaryButton(job_id, index, "subtle"))
    view.add_item(VaryButton(job_id, index, "strong"))
    return view


def running_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def queue_view(job_ids: list[int]) -> discord.ui.View | None:
    """One cancel button per own job (at most 25)."""
    if not job_ids:
        return None
    view = discord.ui.View(timeout=None)
    _rows_of([QueueCancelButton(job_id) for job_id in job_ids[: ROW_WIDTH * MAX_ROWS]], 0, view)
    return view
