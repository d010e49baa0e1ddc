"""The one error funnel: user-safe errors become short ephemeral replies, the rest is logged."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.ui import render
from bot.ui.render import GENERIC_ERROR, clip
from studio.errors import NotFound, UserFacing

log = logging.getLogger(__name__)

JOB_GONE = "This job no longer exists."


def _unwrap(error: BaseException) -> BaseException:
    while isinstance(error, app_commands.CommandInvokeError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def user_message(error: BaseException) -> str | None:
    """The message to show for an expected error, or None when the error is unexpected."""
    error = _unwrap(error)
    if isinstance(error, UserFacing) and isinstance(error.user_message, str) and error.user_message:
        return render.hide_paths(error.user_message)
    if isinstance(error, app_commands.TransformerError):
        return f"`{error.value}` is not a valid value here: pick one of the offered options."
    if isinstance(error, app_commands.MissingPermissions | app_commands.NoPrivateMessage | app_commands.CheckFailure):
        return str(error) or "You cannot use this command here."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    return None


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whatever state the interaction is in; never leave a 'thinking…' behind."""
    text = clip(text, 2000)
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True)
        return
    if response.type is discord.InteractionResponseType.deferred_channel_message:
        # A pending "thinking…" message: remove it, so the error can be private.
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            await interaction.edit_original_response(content=text, embeds=[], attachments=[], view=None)
            return
    await interaction.followup.send(text, ephemeral=True)


async def report_error(interaction: discord.Interaction, error: BaseException, *, job_item: bool = False) -> None:
    """Turn any error from a command, button or modal into a reply; log the unexpected ones."""
    original = _unwrap(error)
    if job_item and isinstance(original, NotFound):
        text: str | None = JOB_GONE
    else:
        text = user_message(original)
    command = interaction.command.qualified_name if interaction.command else None
    custom_id = (interaction.data or {}).get("custom_id") if interaction.data else None
    if text is None:
        log.error(
            "Unexpected error in %s (user %s, guild %s)",
            command or custom_id or interaction.type.name,
            interaction.user.id if interaction.user else None,
            interaction.guild_id,
            exc_info=(type(original), original, original.__traceback__),
        )
        text = GENERIC_ERROR
    else:
        log.info("Refused %s for user %s: %s", command or custom_id, interaction.user.id, text)
    try:
        await send_ephemeral(interaction, text)
    except discord.HTTPException:
        log.warning("Could not send the error reply for interaction %s", interaction.id, exc_info=True)


class Funnel:
    """Mixin for DynamicItems: each click runs `run` inside the error funnel (otherwise errors are only logged)."""

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.run(interaction)
        except Exception as error:
            await report_error(interaction, error, job_item=True)

    async def run(self, interaction: discord.Interaction) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
