"""APScheduler 3.x in the bot's event loop, as an alarm clock only: one cron job per enabled schedule.

Nothing is kept in the scheduler: at start every schedule is registered again from SQLite (stable ids,
replace_existing) and given one wake-up, which posts a slot missed while the bot was down if it is still within
its grace window. A wake-up calls `AutopostService.tick`, which decides and claims in SQLite.
"""

from __future__ import annotations

import logging
from datetime import UTC

from bot.background import BackgroundTasks
from bot.services.autopost.service import AutopostService
from storage import Database
from storage.records import Schedule

log = logging.getLogger(__name__)


class WakeUps:
    def __init__(self, service: AutopostService, db: Database) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._service = service
        self._db = db
        self._scheduler = AsyncIOScheduler(timezone=UTC)  # each job's trigger carries its server's zone
        self._tasks = BackgroundTasks("auto-post wake-ups")

    @staticmethod
    def job_id(schedule_id: int) -> str:
        return f"autopost-{schedule_id}"

    async def start(self) -> None:
        """Register every enabled schedule, then wake each once (a slot missed while down, within its grace)."""
        self._scheduler.start()
        self._service.on_change = self.changed
        schedules = await self._db.schedules.list(enabled_only=True)
        for schedule in schedules:
            await self._register(schedule)
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
            if self._scheduler.get_job(self.job_id(schedule_id)) is not None:
                self._scheduler.remove_job(self.job_id(schedule_id))
            return
        await self._register(current)

    async def _register(self, schedule: Schedule) -> None:
        timing = await self._service.timing_of(schedule)
        self._scheduler.add_job(
            self._fire,
            trigger=timing.trigger,
            args=[schedule.id],
            id=self.job_id(schedule.id),
            replace_existing=True,
            coalesce=True,  # several missed alarms are one wake-up: `due` decides what to post
            max_instances=1,
            misfire_grace_time=None,
        )

    async def _fire(self, schedule_id: int) -> None:
        try:
            await self._service.tick(schedule_id)
        except Exception:  # a wake-up must never stop the alarm clock
            log.exception("auto-post %s: the wake-up failed", schedule_id)
