"""/autopost: schedules that post images to a channel, and what runs them when they are due.

The schedules, their newest claimed slot and every post live in SQLite; the scheduler (`wakeups.py`) only wakes
the service up. A wake-up asks `timing.due` which slot to post, claims it in SQLite (a second claim of the same
slot fails, so nothing is posted twice) and queues the post as a job whose caller is the schedule.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from storage import Database
from storage.errors import DuplicateError
from storage.names import MAX_NAME
from storage.records import Schedule
from studio.autopost.api import MAX_CAPTION, MAX_PROMPT, ScheduleOptions, ScheduleView
from studio.autopost.kind import PRIORITY
from studio.autopost.timing import Timing, due, parse, zone
from studio.autopost.wildcards import check_template, parse_values, pick
from studio.contract import SERVER_ACCOUNT, Caller, JobTicket, SchedulePaused
from studio.errors import NotFound, Refused, StudioError
from studio.images.images import ImageDraft
from studio.images.submitter import ImageSubmitter
from studio.jobs.router import DeliveryRouter
from studio.models.service import ModelService
from studio.names import kept_name, name_key, wildcard_name

log = logging.getLogger(__name__)

DERIVED_WORDS = 4  # a name made from the prompt: its first words
MAX_DERIVED = 99


def slot_seed(schedule_id: int, moment: datetime) -> int:
    """The seed of the post of `moment`: a retried post makes the same images with the same prompt."""
    digest = hashlib.sha256(f"{schedule_id}|{moment.astimezone(UTC).isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def caption_text(template: str | None, prompt: str, model: str, moment: datetime) -> str | None:
    """The message text: `{prompt}`, `{model}` and `{date}` filled in, nothing else read."""
    if not template:
        return None
    values = {"prompt": prompt, "model": model, "date": moment.strftime("%Y-%m-%d")}
    return re.sub(r"\{(prompt|model|date)\}", lambda m: values[m.group(1)], template)


class AutopostService:
    def __init__(
        self,
        db: Database,
        submitter: ImageSubmitter,
        models: ModelService,
        delivery: DeliveryRouter,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._submitter = submitter
        self._models = models
        # A pause is told through the port of the schedule's origin; a post's channel found closed pauses it.
        self._delivery = delivery
        delivery.on_unreachable(self.unreachable)
        self.clock = clock
        self.on_change: Callable[[Schedule], None] | None = None  # set by the wake-ups: re-register a schedule

    # -- who and what ----------------------------------------------------------------------------

    @staticmethod
    def _may_manage(caller: Caller) -> None:
        if not caller.may_manage_server:
            raise Refused("Auto-posts are for members with Manage Server.")

    async def _schedule(self, caller: Caller, schedule_id: int) -> Schedule:
        found = await self._db.schedules.get(schedule_id)
        if found is None or (not caller.bypasses_server_policy and found.guild_id != caller.guild_id):
            raise NotFound(f"There is no auto-post {schedule_id} here. /autopost list shows them.")
        return found

    async def timing_of(self, schedule: Schedule) -> Timing:
        settings = await self._db.guild_settings.get(schedule.guild_id)
        return Timing(schedule.cron, settings.timezone)

    async def view(self, schedule: Schedule) -> ScheduleView:
        timing = await self.timing_of(schedule)
        params = schedule.params
        return ScheduleView(
            id=schedule.id,
            name=schedule.name,
            channel_id=schedule.channel_id,
            cron=schedule.cron,
            words=timing.words(),
            timezone=timing.tz,
            next_runs=tuple(timing.after(self.clock())) if schedule.enabled else (),
            prompt=schedule.prompt,
            model=schedule.model,
            lora_share=int(params.get("lora_share", 100)),
            count=int(params.get("count", 1)),
            enabled=schedule.enabled,
            paused_reason=schedule.paused_reason,
            last_run_at=schedule.last_run_at,
            last_result=await self._result_now(schedule.last_result),
        )

    async def _result_now(self, result: str | None) -> str | None:
        """The last run's result with its job's state now: a post that failed after it was queued says so."""
        found = re.search(r"\(job (\d+)\)", result or "")
        job = await self._db.jobs.get(int(found.group(1))) if found else None
        if job is None or job.status == "done":
            return result
        if job.status == "failed":
            return f"failed (job {job.id}): {job.error or 'no reason given'}"
        return f"{job.status} (job {job.id})"

    def _changed(self, schedule: Schedule) -> None:
        if self.on_change is not None:
            self.on_change(schedule)

    # -- commands ---------------------------------------------------------------------------------

    async def add(self, caller: Caller, channel_id: int, schedule: str, options: ScheduleOptions) -> ScheduleView:
        self._may_manage(caller)
        settings = await self._db.guild_settings.get(caller.guild_id)
        timing = parse(schedule, settings.timezone, settings.autopost_min_minutes, self.clock())
        prompt = " ".join(options.prompt.split())
        if not prompt or len(prompt) > MAX_PROMPT:
            raise Refused(f"The prompt must have 1 to {MAX_PROMPT} characters.")
        if options.caption is not None and len(options.caption) > MAX_CAPTION:
            raise Refused(f"The caption must have at most {MAX_CAPTION} characters.")
        if not 0 <= options.lora_share <= 100 or not 1 <= options.count <= 8:
            raise Refused("lora_share goes from 0 to 100 (percent), count from 1 to 8.")
        check_template(prompt, await self._db.schedules.wildcards(caller.guild_id))
        model = await self._models.resolve(options.model)  # NotFound says what to pick
        name = await self._new_name(caller.guild_id, options.name, prompt)
        params: dict[str, Any] = {"count": options.count, "lora_share": options.lora_share}
        if options.lora_scale is not None:
            params["lora_scale"] = options.lora_scale
        if options.caption:
            params["caption"] = options.caption
        try:
            created = await self._db.schedules.create(
                name,
                caller.guild_id,
                channel_id,
                timing.cron,
                prompt,
                caller.user_id,
                model=model.chosen,
                params=params,
            )
        except DuplicateError:
            raise Refused(f"An auto-post named {name!r} exists here already: give another `name`.") from None
        created = await self._db.schedules.update(created.id, home_channel_id=caller.channel_id)
        log.info("auto-post %s (%s) added by user=%s: %s", created.id, name, caller.user_id, timing.cron)
        self._changed(created)
        return await self.view(created)

    async def _new_name(self, guild_id: int | None, given: str | None, prompt: str) -> str:
        """The name given (kept as typed; a taken one is refused), or one derived from the prompt and made unique."""
        taken = {name_key(s.name) for s in await self._db.schedules.list(guild_id=guild_id)}
        if given is not None and given.strip():
            name = kept_name(given, "auto-post name")
            if name_key(name) in taken:
                raise Refused(f"An auto-post named {name!r} exists here already: give another `name`.")
            return name
        words = re.sub(r"[\W_]+", " ", prompt).casefold().split()[:DERIVED_WORDS]  # \w: letters of any script
        derived = "-".join(words)[: MAX_NAME - 4].strip("-") or "auto-post"
        for number in range(1, MAX_DERIVED + 1):
            name = derived if number == 1 else f"{derived}-{number}"
            if name_key(name) not in taken:
                return name
        raise Refused(f"{MAX_DERIVED} auto-posts here start like this one: give this one a `name`.")

    async def list(self, caller: Caller) -> builtins.list[ScheduleView]:
        guild = None if caller.bypasses_server_policy and caller.guild_id is None else caller.guild_id
        return [await self.view(s) for s in await self._db.schedules.list(guild_id=guild)]

    async def remove(self, caller: Caller, schedule_id: int) -> ScheduleView:
        self._may_manage(caller)
        found = await self._schedule(caller, schedule_id)
        shown = await self.view(found)
        await self._db.schedules.delete(found.id)
        self._changed(found)
        return shown

    async def pause(self, caller: Caller, schedule_id: int) -> ScheduleView:
        self._may_manage(caller)
        found = await self._schedule(caller, schedule_id)
        paused = await self._db.schedules.update(
            found.id, enabled=False, paused_reason=f"paused by <@{caller.user_id}>"
        )
        self._changed(paused)
        return await self.view(paused)

    async def resume(self, caller: Caller, schedule_id: int) -> ScheduleView:
        self._may_manage(caller)
        found = await self._schedule(caller, schedule_id)
        await self._models.resolve(found.model)  # a removed model stays paused, with the reason
        resumed = await self._db.schedules.update(found.id, enabled=True, paused_reason=None)
        self._changed(resumed)
        return await self.view(resumed)

    async def run(self, caller: Caller, schedule_id: int) -> tuple[ScheduleView, JobTicket]:
        """Post now, outside the schedule (its slots are untouched)."""
        self._may_manage(caller)
        found = await self._schedule(caller, schedule_id)
        now = self.clock()
        ticket = await self.post(found, slot_seed(found.id, now), now)
        await self._db.schedules.record_run(found.id, now, ticket.job_id)
        ran = await self._db.schedules.update(found.id, last_result=f"posted on demand (job {ticket.job_id})")
        return await self.view(ran), ticket

    async def set_timezone(self, caller: Caller, name: str) -> str:
        self._may_manage(caller)
        if caller.guild_id is None:
            raise Refused("The time zone belongs to a server: use this command in one.")
        zone(name)  # says what a valid name looks like
        await self._db.guild_settings.update(caller.guild_id, timezone=name)
        for schedule in await self._db.schedules.list(guild_id=caller.guild_id):
            self._changed(schedule)
        return name

    async def wildcard(self, caller: Caller, name: str, values: str) -> tuple[str, tuple[str, ...]]:
        """Define (or replace) a list; its name as templates write it (`__name__`) and its values."""
        self._may_manage(caller)
        items = parse_values(values)
        slug = wildcard_name(name)
        await self._db.schedules.set_wildcard(caller.guild_id, slug, items)
        return slug, items

    async def timezones(self, current: str) -> builtins.list[str]:
        from zoneinfo import available_timezones

        needle = current.strip().lower()
        return sorted(z for z in available_timezones() if needle in z.lower())[:25]

    # -- running ----------------------------------------------------------------------------------

    async def preview(self, caller: Caller, schedule_id: int) -> JobTicket:
        """Render one post of a schedule for `caller` alone (the CLI): its template and mix, no channel, no slot."""
        self._may_manage(caller)
        found = await self._schedule(caller, schedule_id)
        now = self.clock()
        return await self.post(found, slot_seed(found.id, now), now, caller=caller)

    async def post(self, schedule: Schedule, seed: int, moment: datetime, *, caller: Caller | None = None) -> JobTicket:
        """Queue one post of `schedule`: the template and the model mix applied with `seed`."""
        params = schedule.params
        lists = await self._db.schedules.wildcards(schedule.guild_id)
        choice = pick(schedule.prompt, lists, int(params.get("lora_share", 100)), seed)
        model = await self._models.resolve(schedule.model)
        chosen = model.chosen if choice.use_lora or not model.loras else model.spec.name
        caller = caller or Caller(
            user_id=schedule.created_by,
            guild_id=schedule.guild_id,
            channel_id=schedule.channel_id,
            account=SERVER_ACCOUNT,
            origin="schedule",
        )
        draft = ImageDraft(
            prompt=choice.prompt,
            model=chosen,
            count=int(params.get("count", 1)),
            seed=seed,
            lora_scale=params.get("lora_scale") if chosen == model.chosen else None,
            note=caption_text(params.get("caption"), choice.prompt, chosen, moment),
        )
        return await self._submitter.submit(caller, "autopost", draft, priority=PRIORITY)

    async def tick(self, schedule_id: int, now: datetime | None = None) -> int | None:
        """A wake-up: post the schedule's due slot if it has one and nobody claimed it; the job's id."""
        now = now or self.clock()
        schedule = await self._db.schedules.get(schedule_id)
        if schedule is None or not schedule.enabled:
            return None
        timing = await self.timing_of(schedule)
        found = due(timing, schedule.last_slot, schedule.created_at, now)
        if found.skipped:
            log.info("auto-post %s: %d slot(s) skipped, too late to post", schedule.id, len(found.skipped))
        if found.slot is None:
            if found.skipped:
                await self._db.schedules.mark_skipped(schedule.id, found.skipped[-1], len(found.skipped))
            return None
        if not await self._db.schedules.claim(schedule.id, found.slot):
            return None  # another wake-up, or a run before a restart, posted this slot
        try:
            ticket = await self.post(schedule, slot_seed(schedule.id, found.slot), found.slot)
        except NotFound as exc:  # the model was removed: pause, and say so once
            await self.pause_for(schedule, f"its model is gone ({exc.message})")
            return None
        except StudioError as exc:
            await self._db.schedules.update(schedule.id, last_result=f"not posted: {exc.message}")
            return None
        await self._db.schedules.slot_job(schedule.id, found.slot, ticket.job_id)
        await self._db.schedules.update(schedule.id, last_result=f"posted (job {ticket.job_id})")
        return ticket.job_id

    async def pause_for(self, schedule: Schedule, reason: str) -> None:
        """Pause a schedule that cannot post, and tell its server once where it was made (or its system channel)."""
        if not await self._db.schedules.pause(schedule.id, reason):
            return  # paused already (by a member, or by an earlier failure): the server was told
        self._changed(schedule)
        log.warning("auto-post %s paused: %s", schedule.id, reason)
        channels = tuple(c for c in (schedule.home_channel_id, schedule.channel_id) if c)
        await self._delivery.schedule_paused(
            SchedulePaused(schedule.id, schedule.name, reason, schedule.guild_id, channels)
        )

    async def unreachable(self, job_id: int, reason: str) -> None:
        """The post of `job_id` could not be shown (channel deleted, permission lost): pause its schedule."""
        schedule = await self._db.schedules.schedule_of_job(job_id)
        if schedule is not None:
            await self.pause_for(schedule, reason)
