"""The alarm clock: APScheduler in the event loop, registered again from SQLite at start, one wake-up each."""

from __future__ import annotations

from datetime import timedelta

from studio.autopost.api import ScheduleOptions
from studio.autopost.timing import Timing
from studio.autopost.wakeups import WakeUps
from tests.studio.conftest import reopen
from tests.studio.test_autopost import MANAGER


async def _settled(wakeups: WakeUps) -> None:
    await wakeups._tasks.wait(limit_s=5)


async def test_start_registers_each_enabled_schedule_and_posts_a_missed_slot_once(settings, host, services) -> None:
    hourly = await services.autopost.add(MANAGER, 1, "every 1h", ScheduleOptions(prompt="a cat", name="hourly"))
    daily = await services.autopost.add(MANAGER, 1, "daily 09:00", ScheduleOptions(prompt="a dog", name="daily"))
    paused = await services.autopost.add(MANAGER, 1, "every 2h", ScheduleOptions(prompt="a fox", name="paused"))
    await services.autopost.pause(MANAGER, paused.id)
    created = (await services.db.schedules.get(hourly.id)).created_at
    slot = Timing("0 * * * *", "UTC").after(created, 1)[0]

    for _ in range(2):  # two starts (a restart): the missed slot is posted by the first only
        async with reopen(settings, host) as again:
            again.autopost.clock = lambda: slot + timedelta(minutes=5)  # within the hourly schedule's grace
            wakeups = WakeUps(again.autopost, again.db)
            await wakeups.start()
            try:
                assert wakeups.registered() == {f"autopost-{hourly.id}", f"autopost-{daily.id}"}
                job = wakeups._scheduler.get_job(f"autopost-{hourly.id}")
                assert job.next_run_time == slot + timedelta(hours=1)  # the alarm is set for the next run
            finally:
                await wakeups.stop()
    jobs = [*await services.db.jobs.fair_queue(), *await services.db.jobs.list_running()]
    assert [j.kind for j in jobs] == ["autopost"]
    assert (await services.db.schedules.get(hourly.id)).last_slot == slot


async def test_changes_register_again_or_drop_the_alarm(services) -> None:
    wakeups = WakeUps(services.autopost, services.db)
    await wakeups.start()
    try:
        made = await services.autopost.add(MANAGER, 1, "daily 09:00", ScheduleOptions(prompt="a cat"))
        await _settled(wakeups)
        assert wakeups.registered() == {f"autopost-{made.id}"}
        await services.autopost.set_timezone(MANAGER, "Asia/Tokyo")
        await _settled(wakeups)
        fire = wakeups._scheduler.get_job(f"autopost-{made.id}").next_run_time
        assert (fire.hour, str(fire.tzinfo)) == (9, "Asia/Tokyo")
        await services.autopost.pause(MANAGER, made.id)
        await _settled(wakeups)
        assert wakeups.registered() == set()
        await services.autopost.resume(MANAGER, made.id)
        await _settled(wakeups)
        assert wakeups.registered() == {f"autopost-{made.id}"}
        await services.autopost.remove(MANAGER, made.id)
        await _settled(wakeups)
        assert wakeups.registered() == set()
    finally:
        await wakeups.stop()


async def test_an_alarm_wakes_the_service_and_sets_the_next_one(services) -> None:
    made = await services.autopost.add(MANAGER, 1, "every 1h", ScheduleOptions(prompt="a cat"))
    wakeups = WakeUps(services.autopost, services.db)
    await wakeups.start()
    try:
        job = wakeups._scheduler.get_job(f"autopost-{made.id}")
        first = job.next_run_time
        slot = Timing("0 * * * *", "UTC").after((await services.db.schedules.get(made.id)).created_at, 1)[0]
        assert first == slot
        # The alarm rings (APScheduler calls the job's function): the slot is posted, the next alarm set.
        services.autopost.clock = lambda: slot + timedelta(seconds=1)
        await job.func(*job.args)
        assert (await services.db.schedules.get(made.id)).last_slot == slot
        assert wakeups._scheduler.get_job(f"autopost-{made.id}").next_run_time == slot + timedelta(hours=1)
    finally:
        await wakeups.stop()
