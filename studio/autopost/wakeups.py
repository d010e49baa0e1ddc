"""APScheduler 3.x in the bot's event loop, as an alarm clock only: one alarm per enabled schedule, at its next run.

Nothing is kept in the scheduler: at start every schedule is registered again from SQLite (stable ids,
replace_existing) and given one wake-up, which posts a slot missed while the bot was down if it is still within
its grace window. A wake-up calls `AutopostService.tick`, which decides and claims in SQLite.
"""

from __future__ import annotations

import logging
from datetime import UTC

from storage import Database
from storage.records import Schedule
from studio.autopost.service import AutopostService
from studio.background import BackgroundTasks

log = logging.getLogger(__name__)


class WakeUps:
    def __init__(self, service: AutopostService, db: Database) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._service = service
        self._db = db
        self._scheduler = AsyncIOScheduler(timezone=UTC)  # each alarm is an aware time in its server's zone
        self._tasks = BackgroundTasks("auto-post wake-ups")

    @staticmethod
    def job_id(schedule_id: int) -> str:
        return f"autopost-{schedule_id}"

    async def start(self) -> None:
        """Wake every enabled schedule once (a slot missed while down, within its grace), which sets its alarm."""
        self._scheduler.start()
        self._service.on_change = self.changed
        schedules = await self._db.schedules.list(enabled_only=True)
        for schedule in schedules:
            await self._fire(schedule.id)
        log.info("auto-posts: %d schedule(s) registered", len(schedules))

    async def stop(self) -> None:
        self._service.on_change = None
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self._tasks.wait(limit_s=5)

    def registered(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}

    def changed(self, schedule: Schedule) -> None:
        """A schedule was added, changed, paused or removed: register it again (or drop it), soon."""
        self._tasks.spawn(self._refresh(schedule.id), name=f"auto-post {schedule.id} refresh")

    async def _refresh(self, schedule_id: int) -> None:
        current = await self._db.schedules.get(schedule_id)
        if current is None or not current.enabled:
            self._drop(schedule_id)
            return
        await self._register(current)

    async def _register(self, schedule: Schedule) -> None:
        """Set the alarm for the schedule's next run (set again after each wake-up)."""
        from apscheduler.triggers.date import DateTrigger

        timing = await self._service.timing_of(schedule)
        # A one-shot alarm at the run `Timing` computes, rather than APScheduler's cron trigger: that trigger can
        # stop advancing in the hour repeated when summer time ends (see `Timing._fires`).
        runs = timing.after(self._service.clock(), 1)
        if not runs:
            self._drop(schedule.id)
            return
        self._scheduler.add_job(
            self._fire,
            trigger=DateTrigger(run_date=runs[0]),
            args=[schedule.id],
            id=self.job_id(schedule.id),
            replace_existing=True,
            misfire_grace_time=None,  # a late alarm still wakes: `due` decides what to post
        )

    def _drop(self, schedule_id: int) -> None:
        if self._scheduler.get_job(self.job_id(schedule_id)) is not None:
            self._scheduler.remove_job(self.job_id(schedule_id))

    async def _fire(self, schedule_id: int) -> None:
        try:
            await self._service.tick(schedule_id)
        except Exception:  # a wake-up must never stop the alarm clock
            log.exception("auto-post %s: the wake-up failed", schedule_id)
        finally:
            try:
                await self._refresh(schedule_id)  # the next alarm
            except Exception:
                log.exception("auto-post %s: the next wake-up could not be set", schedule_id)
