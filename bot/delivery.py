"""`DiscordDelivery`: the DeliveryPort that shows a job's life in Discord.

Everything comes from the route the job service builds from the job's row (token included), so
jobs recovered after a restart are shown the same way. While the route's interaction token is valid
the job's message is the interaction's original response (the deferred "thinking…" that the command
or button left), edited through the interaction webhook; after it expired (or without one) the job
gets a plain channel message, edited later by its id, that mentions the requester when a member
asked (a schedule's post mentions nobody). A result is rendered by its type (`RENDERERS`). Discord
errors are logged with the job id and never raised into the services, but for a channel closed to the bot:
that is raised as `Unreachable`, which the services hear through their router (an auto-post pauses).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.ui import render
from bot.ui.buttons import running_view
from bot.ui.render_images import images_message
from bot.ui.training_view import checkpoint_message, training_message
from studio.contract import Deliverable, JobRoute, Progress, SchedulePaused, Unreachable
from studio.images.api import JobResult
from studio.training.results import CheckpointPost, TrainingResult

if TYPE_CHECKING:
    from discord.ext import commands

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 2.0
# Stop using a token a little before Discord does, so an edit never races its expiry.
TOKEN_MARGIN = timedelta(seconds=30)


class _Stage(IntEnum):
    QUEUED = 1
    PROGRESS = 2
    DONE = 3


def _utcnow() -> datetime:
    return datetime.now(UTC)


MAX_REMEMBERED_JOBS = 2000
# Discord's error codes that mean a channel will not take the bot's messages until someone acts.
UNREACHABLE = {
    10003: "its channel <#{channel}> was deleted",
    50001: "the bot can no longer see <#{channel}>",
    50013: "the bot lost its permission to post in <#{channel}>",
}

# How each type of result becomes a message: (result, upload limit in bytes, user to mention or None).
Renderer = Callable[[Any, int, int | None], Awaitable[render.Rendered]]
RENDERERS: dict[type, Renderer] = {
    JobResult: images_message,
    TrainingResult: training_message,
    CheckpointPost: checkpoint_message,
}


class Unrenderable(TypeError):
    """A kind delivered a result of a type that nothing renders (a bug: add its renderer to RENDERERS)."""


async def render_result(result: object, limit_bytes: int, mention: int | None) -> render.Rendered:
    """The message for `result`, by its type."""
    for cls in type(result).__mro__:
        renderer = RENDERERS.get(cls)
        if renderer is not None:
            return await renderer(result, limit_bytes, mention)
    raise Unrenderable(f"no renderer for results of type {type(result).__name__}")


class DiscordDelivery:
    """One instance serves every job; all it needs is in the route."""

    def __init__(
        self,
        bot: commands.Bot | None = None,
        *,
        max_upload_bytes: int = render.DEFAULT_UPLOAD_LIMIT,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._bot = bot
        self.max_upload_bytes = max_upload_bytes
        self.progress_interval_s = progress_interval_s
        self.clock = clock  # tells when a route's token has expired
        self._last_progress: dict[int, float] = {}
        self._stage: dict[int, _Stage] = {}
        self._channel_messages: dict[int, int] = {}  # job id → status message we posted in the channel
        self._lost_tokens: set[int] = set()  # jobs whose interaction response is gone before its token expired
        self._progress_images: dict[int, Path] = {}  # the picture each job's status message shows

    def bind(self, bot: commands.Bot) -> None:
        """Attach the bot (the services may need the port before the bot exists)."""
        self._bot = bot

    @property
    def bot(self) -> commands.Bot:
        if self._bot is None:
            raise RuntimeError("DiscordDelivery is not bound to a bot yet")
        return self._bot

    # -- DeliveryPort -------------------------------------------------------------------------

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        """Replace the interaction's "thinking…" with the queue position; return the message that shows the job."""
        if self._stage.get(route.job_id, 0) > _Stage.QUEUED:
            return None  # a late "queued" must not overwrite progress or a result
        self._stage[route.job_id] = _Stage.QUEUED
        return await self._show(route, content=render.queued_text(position, eta_s), view=running_view(route.job_id))

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        if self._stage.get(route.job_id, 0) >= _Stage.DONE:
            return
        now = time.monotonic()
        final = progress.step >= progress.total
        last = self._last_progress.get(route.job_id)
        if not final and last is not None and now - last < self.progress_interval_s:
            return
        self._last_progress[route.job_id] = now
        self._stage[route.job_id] = _Stage.PROGRESS
        files: list[discord.File] | None = []  # no picture: none shown
        if progress.image is not None:
            # A new picture is uploaded once; later edits leave the attachment as it is (None).
            files = None
            if self._progress_images.get(route.job_id) != progress.image:
                try:
                    files = [await render.image_file(progress.image, f"job{route.job_id}_progress.png")]
                except OSError:
                    log.warning("The progress picture of job_id=%s could not be read", route.job_id)
                    files = []
                self._progress_images[route.job_id] = progress.image
        await self._show(route, content=render.progress_text(progress), view=running_view(route.job_id), files=files)

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        self._finish(route.job_id)
        try:
            if self._token_valid(route):
                shown = await render_result(result, self.max_upload_bytes, None)
                message_id = await self._edit_original(
                    route, content=shown.content, embed=shown.embed, attachments=shown.files, view=shown.view
                )
                if message_id is not None:
                    return message_id
            # Without a token: a new message pings the requester (edits do not), then the status goes.
            shown = await render_result(result, self.max_upload_bytes, route.requester_id if route.mention else None)
        except OSError:
            log.exception("Could not read the files of job_id=%s", route.job_id)
            await self.failed(route, "The images could not be read from disk.")
            return None
        except Unrenderable:
            log.exception("No way to show the result of job_id=%s", route.job_id)
            await self.failed(route, "This result cannot be shown here; the error was logged for the admins.")
            return None
        old_id = self._channel_messages.pop(route.job_id, None) or route.message_id
        message_id = await self._send_channel(
            route, content=shown.content, embed=shown.embed, files=shown.files, view=shown.view
        )
        if message_id is not None and old_id is not None and old_id != message_id:
            await self._delete_channel_message(route, old_id)
        return message_id

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        """One more channel message for the job, after its result (it mentions nobody)."""
        try:
            shown = await render_result(item, self.max_upload_bytes, None)
        except (OSError, Unrenderable):
            log.exception("Could not show an extra message of job_id=%s", route.job_id)
            return None
        return await self._send_channel(
            route, content=shown.content, embed=shown.embed, files=shown.files, view=shown.view
        )

    async def failed(self, route: JobRoute, message: str) -> None:
        self._finish(route.job_id)
        await self._show(route, content=render.failed_text(message), view=None)

    async def cancelled(self, route: JobRoute) -> None:
        self._finish(route.job_id)
        await self._show(route, content=render.CANCELLED_TEXT, view=None)

    # -- internals -------------------------------------------------------------------------------

    def _finish(self, job_id: int) -> None:
        self._stage[job_id] = _Stage.DONE
        self._last_progress.pop(job_id, None)
        self._progress_images.pop(job_id, None)
        # Finished jobs are remembered only so a late "queued" cannot overwrite them: keep the newest few.
        while len(self._stage) > MAX_REMEMBERED_JOBS:
            oldest = next(iter(self._stage))
            self._stage.pop(oldest)
            self._lost_tokens.discard(oldest)

    def _token_valid(self, route: JobRoute) -> bool:
        if not route.interaction_token or route.token_expires_at is None or route.job_id in self._lost_tokens:
            return False
        expires = route.token_expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)  # the services store UTC
        return self.clock() < expires - TOKEN_MARGIN

    async def _show(
        self,
        route: JobRoute,
        *,
        content: str,
        view: discord.ui.View | None,
        files: Sequence[discord.File] | None = (),
    ) -> int | None:
        """Edit the job's message in place: the interaction response, else the channel message.

        `files` replace the message's attachments (empty: none); None keeps those it has.
        """
        attachments: dict[str, Any] = {} if files is None else {"attachments": list(files)}
        if self._token_valid(route):
            message_id = await self._edit_original(route, content=content, embed=None, view=view, **attachments)
            if message_id is not None:
                return message_id
        message_id = self._channel_messages.get(route.job_id) or route.message_id
        if message_id is not None:
            edited = await self._edit_channel_message(route, message_id, content=content, view=view, **attachments)
            if edited:
                return message_id
        text = f"<@{route.requester_id}> {content}" if route.mention else content
        new_id = await self._send_channel(route, content=text, embed=None, files=list(files or []), view=view)
        if new_id is not None:
            self._channel_messages[route.job_id] = new_id
        return new_id

    async def _edit_original(self, route: JobRoute, **fields: Any) -> int | None:
        application_id = self.bot.application_id
        if application_id is None:
            return None
        webhook = discord.Webhook.partial(application_id, route.interaction_token or "", client=self.bot)
        try:
            message = await webhook.edit_message("@original", **fields)  # type: ignore[arg-type]
        except discord.NotFound:
            log.info("Interaction token of job_id=%s is gone; using the channel", route.job_id)
            self._lost_tokens.add(route.job_id)
            return None
        except discord.HTTPException as exc:
            log.warning("Editing the response of job_id=%s failed: %s %s", route.job_id, exc.status, exc.text)
            return None
        return message.id

    async def _send_channel(
        self,
        route: JobRoute,
        *,
        content: str | None,
        embed: discord.Embed | None,
        files: list[discord.File],
        view: discord.ui.View | None,
    ) -> int | None:
        if route.channel_id is None:
            log.warning("job_id=%s has no channel to deliver to", route.job_id)
            return None
        channel = self.bot.get_partial_messageable(route.channel_id, guild_id=route.guild_id)
        users = [discord.Object(id=route.requester_id)] if route.mention else []
        kwargs: dict[str, Any] = {
            "content": content,
            "allowed_mentions": discord.AllowedMentions(everyone=False, roles=False, replied_user=False, users=users),
        }
        if embed is not None:
            kwargs["embed"] = embed
        if files:
            kwargs["files"] = files
        if view is not None:
            kwargs["view"] = view
        try:
            message = await channel.send(**kwargs)
        except discord.HTTPException as exc:
            log.warning(
                "Posting job_id=%s in channel %s failed: %s %s", route.job_id, route.channel_id, exc.status, exc.text
            )
            reason = UNREACHABLE.get(exc.code)
            if reason is not None:  # nothing else to do here: the services decide (an auto-post pauses)
                raise Unreachable(reason.format(channel=route.channel_id)) from None
            return None
        return message.id

    async def schedule_paused(self, notice: SchedulePaused) -> None:
        """Tell the server where the schedule was made (or where it posts, else its system channel)."""
        text = (
            f"The auto-post **{notice.name}** (#{notice.schedule_id}) is paused: {notice.reason}. Fix it, then "
            f"`/autopost resume {notice.schedule_id}`."
        )
        await self.notice(notice.guild_id, notice.channel_ids, text)

    async def notice(self, guild_id: int | None, channel_ids: tuple[int, ...], text: str) -> bool:
        """Tell a server something: in the first of `channel_ids` that takes it, else its system channel."""
        targets = list(channel_ids)
        guild = self.bot.get_guild(guild_id) if guild_id else None
        if guild is not None and guild.system_channel is not None:
            targets.append(guild.system_channel.id)
        for channel_id in dict.fromkeys(targets):
            channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
            try:
                await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
                return True
            except discord.HTTPException as exc:
                log.info("A notice to channel %s failed: %s %s", channel_id, exc.status, exc.code)
        log.warning("Could not tell guild %s: %s", guild_id, text)
        return False

    async def _edit_channel_message(
        self, route: JobRoute, message_id: int, *, content: str, view: discord.ui.View | None, **fields: Any
    ) -> bool:
        if route.channel_id is None:
            return False
        channel = self.bot.get_partial_messageable(route.channel_id, guild_id=route.guild_id)
        try:
            await channel.get_partial_message(message_id).edit(content=content, embed=None, view=view, **fields)
        except discord.HTTPException as exc:
            log.warning("Editing message %s of job_id=%s failed: %s %s", message_id, route.job_id, exc.status, exc.text)
            return False
        return True

    async def _delete_channel_message(self, route: JobRoute, message_id: int) -> None:
        if route.channel_id is None:
            return
        channel = self.bot.get_partial_messageable(route.channel_id, guild_id=route.guild_id)
        try:
            await channel.get_partial_message(message_id).delete()
        except discord.HTTPException as exc:
            log.info("Could not remove the status message of job_id=%s: %s", route.job_id, exc.status)
