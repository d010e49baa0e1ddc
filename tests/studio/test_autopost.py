"""Auto-posts in the services, on the fake engine, with a controlled clock: a wake-up is a call of `tick(id, now)`.

The schedules are made at the real time (the database's clock); the service's clock and `now` are set from the
schedule's own slots, so every case says exactly which slot is due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studio.autopost.api import ScheduleOptions
from studio.autopost.service import slot_seed
from studio.autopost.timing import Timing
from studio.contract import Caller, Deliverable, JobRoute, Unreachable
from studio.errors import NotFound, Refused, StudioError
from studio.images.api import GenerateInput
from studio.images.images import ImageRequest
from tests.studio.conftest import ALICE, GUILD, RecordingDelivery, reopen, settle, show_everything

MANAGER = Caller(user_id=3, guild_id=GUILD, channel_id=7, may_manage_server=True)
CHANNEL = 555


async def _lora(services, name: str = "mila") -> None:
    await services.db.models.add(
        name=name,
        display_name=name.title(),
        kind="lora",
        family="sd15",
        source=f"/loras/{name}.safetensors",
        base_model="tiny-sd",
        trigger_word=None,
        config={},
    )


async def _add(services, schedule: str = "every 1h", **options) -> int:
    view = await services.autopost.add(
        MANAGER, CHANNEL, schedule, ScheduleOptions(prompt=options.pop("prompt", "a cat"), **options)
    )
    return view.id


async def _first_slot(services, schedule_id: int) -> datetime:
    schedule = await services.db.schedules.get(schedule_id)
    timing = Timing(schedule.cron, (await services.db.guild_settings.get(GUILD)).timezone)
    return timing.after(schedule.created_at, 1)[0]


async def _request(services, job_id: int) -> ImageRequest:
    job = await services.db.jobs.get(job_id)
    return services.jobs.kind(job.kind).parse(job.request)


async def test_add_answers_in_words_with_the_next_runs_in_the_server_zone(services) -> None:
    await services.db.guild_settings.update(GUILD, timezone="Europe/Paris")
    view = await services.autopost.add(MANAGER, CHANNEL, "daily 09:00", ScheduleOptions(prompt="a cat at dawn"))
    assert view.cron == "0 9 * * *" and view.words == "At 09:00"
    assert view.timezone == "Europe/Paris" and len(view.next_runs) == 3
    assert all(run.hour == 9 and str(run.tzinfo) == "Europe/Paris" for run in view.next_runs)
    assert view.name == "a-cat-at-dawn" and view.enabled and view.lora_share == 100
    (listed,) = await services.autopost.list(ALICE)
    assert listed.id == view.id and listed.channel_id == CHANNEL


async def test_a_derived_name_is_made_unique_and_a_given_one_is_kept_or_refused(services) -> None:
    prompt = ScheduleOptions(prompt="A red, blue green fox in snow")
    first = await services.autopost.add(MANAGER, CHANNEL, "daily 09:00", prompt)
    second = await services.autopost.add(MANAGER, CHANNEL, "daily 10:00", prompt)
    third = await services.autopost.add(MANAGER, CHANNEL, "daily 11:00", prompt)
    assert (first.name, second.name, third.name) == ("a-red-blue-green", "a-red-blue-green-2", "a-red-blue-green-3")
    mine = await services.autopost.add(MANAGER, CHANNEL, "daily 12:00", ScheduleOptions(prompt="x", name="Café ✨"))
    assert mine.name == "Café ✨"
    with pytest.raises(Refused, match="named 'CAFÉ ✨' exists"):
        await services.autopost.add(MANAGER, CHANNEL, "daily 13:00", ScheduleOptions(prompt="x", name="CAFÉ ✨"))
    with pytest.raises(Refused, match="named 'a-red-blue-green' exists"):  # a name the user chose is not changed
        await services.autopost.add(
            MANAGER, CHANNEL, "daily 13:00", ScheduleOptions(prompt="x", name="a-red-blue-green")
        )


async def test_a_schedule_error_comes_before_a_name_error(services) -> None:
    await services.autopost.add(MANAGER, CHANNEL, "daily 09:00", ScheduleOptions(prompt="x", name="taken"))
    with pytest.raises(StudioError) as caught:
        await services.autopost.add(MANAGER, CHANNEL, "whenever you like", ScheduleOptions(prompt="x", name="taken"))
    assert "exists" not in caught.value.message
    with pytest.raises(Refused, match="control"):
        await services.autopost.add(MANAGER, CHANNEL, "daily 09:00", ScheduleOptions(prompt="x", name="bad\x07"))


async def test_manage_server_is_needed_for_every_change(services) -> None:
    schedule_id = await _add(services)
    for attempt in (
        services.autopost.add(ALICE, CHANNEL, "every 1h", ScheduleOptions(prompt="x")),
        services.autopost.remove(ALICE, schedule_id),
        services.autopost.pause(ALICE, schedule_id),
        services.autopost.resume(ALICE, schedule_id),
        services.autopost.run(ALICE, schedule_id),
        services.autopost.set_timezone(ALICE, "Europe/Paris"),
        services.autopost.wildcard(ALICE, "places", "gym, beach"),
    ):
        with pytest.raises(Refused, match="Manage Server"):
            await attempt
    assert (await services.db.schedules.get(schedule_id)).enabled
    other_guild = Caller(user_id=3, guild_id=99, channel_id=1, may_manage_server=True)
    with pytest.raises(NotFound, match="no auto-post"):
        await services.autopost.remove(other_guild, schedule_id)


async def test_bad_input_is_refused_with_what_to_do(services) -> None:
    with pytest.raises(StudioError, match="at most every 15 minutes"):
        await _add(services, "every 5m")
    await services.db.guild_settings.update(GUILD, autopost_min_minutes=1)
    assert await _add(services, "every 5m", name="often")
    with pytest.raises(StudioError, match="Cannot read the schedule"):
        await _add(services, "sometimes")
    with pytest.raises(StudioError, match="__places__"):
        await _add(services, prompt="a cat at the __places__")
    with pytest.raises(NotFound, match="Unknown model"):
        await _add(services, model="nope")
    with pytest.raises(Refused, match="lora_share goes from 0 to 100"):
        await _add(services, lora_share=120)
    with pytest.raises(StudioError, match="Unknown time zone"):
        await services.autopost.set_timezone(MANAGER, "Mars/Olympus")
    assert len(await services.db.schedules.list(guild_id=GUILD)) == 1


async def test_a_due_slot_is_posted_once_even_with_two_wake_ups(services, delivery: RecordingDelivery) -> None:
    await services.jobs.start()
    schedule_id = await _add(services, count=2, caption="Today: {prompt} ({model}, {date})")
    slot = await _first_slot(services, schedule_id)
    assert await services.autopost.tick(schedule_id, slot - timedelta(minutes=1)) is None  # not yet
    job_id = await services.autopost.tick(schedule_id, slot + timedelta(seconds=5))
    assert job_id is not None
    assert await services.autopost.tick(schedule_id, slot + timedelta(seconds=6)) is None  # the second wake-up
    await settle(services)
    job = await services.db.jobs.get(job_id)
    assert job.kind == "autopost" and job.origin == "schedule" and job.status == "done"
    request = await _request(services, job_id)
    assert request.count == 2 and request.seed == slot_seed(schedule_id, slot)
    assert request.note == f"Today: a cat (tiny-sd, {slot:%Y-%m-%d})"
    images = await services.db.images.for_job(job_id)
    assert len(images) == 2
    posts = [post for image in images for post in await services.db.posts.for_image(image.id)]
    assert len(posts) == 2 and {p.role for p in posts} == {"autopost"}  # reactions pick from it
    shown = await services.db.schedules.get(schedule_id)
    assert shown.last_slot == slot and shown.last_result == f"posted (job {job_id})"
    assert delivery.kinds(job_id)[-1] == "delivered"


async def test_a_slot_missed_while_down_is_posted_once_after_a_restart(settings, host, services) -> None:
    schedule_id = await _add(services)
    slot = await _first_slot(services, schedule_id)
    async with reopen(settings, host) as again:  # a restart: new services on the same data
        first = await again.autopost.tick(schedule_id, slot + timedelta(minutes=10))  # within a 15-minute grace
        assert first is not None
    async with reopen(settings, host) as third:
        assert await third.autopost.tick(schedule_id, slot + timedelta(minutes=11)) is None
        assert len(await third.db.jobs.list_running()) + len(await third.db.jobs.fair_queue()) == 1


async def test_slots_too_late_are_skipped_not_posted_one_by_one(services) -> None:
    schedule_id = await _add(services)  # hourly: a grace of 15 minutes
    slot = await _first_slot(services, schedule_id)
    assert await services.autopost.tick(schedule_id, slot + timedelta(hours=5, minutes=30)) is None
    shown = await services.db.schedules.get(schedule_id)
    assert shown.last_slot == slot + timedelta(hours=5) and "skipped 6 slot(s)" in shown.last_result
    assert await services.db.jobs.fair_queue() == []
    # The next slot is posted as usual, and only it.
    job_id = await services.autopost.tick(schedule_id, slot + timedelta(hours=6, minutes=1))
    assert job_id is not None and len(await services.db.jobs.fair_queue()) == 1


async def test_wildcards_and_the_lora_share_over_many_posts(services) -> None:
    await _lora(services)
    await services.autopost.wildcard(MANAGER, "Places", "gym, café, beach")
    schedule_id = await _add(services, prompt="mila at the __places__, {morning|night}", model="mila", lora_share=80)
    schedule = await services.db.schedules.get(schedule_id)
    slot = await _first_slot(services, schedule_id)
    models: list[str] = []
    places: set[str] = set()
    for hour in range(200):
        moment = slot + timedelta(hours=hour)
        ticket = await services.autopost.post(schedule, slot_seed(schedule_id, moment), moment)
        request = await _request(services, ticket.job_id)
        models.append(request.chosen)
        places.add(request.prompt.split(" at the ")[1].split(",")[0])
        assert request.prompt.endswith(("morning", "night"))
        assert (request.loras == ()) == (request.chosen == "tiny-sd")
    share = models.count("mila") / len(models)
    assert 0.72 <= share <= 0.88, share  # 80 % within the spread of 200 seeded draws
    assert places == {"gym", "café", "beach"}


async def test_a_removed_model_pauses_the_schedule_and_tells_the_server_once(services, delivery) -> None:
    await _lora(services)
    schedule_id = await _add(services, model="mila")
    await services.db.models.set_active("mila", False)
    slot = await _first_slot(services, schedule_id)
    assert await services.autopost.tick(schedule_id, slot + timedelta(seconds=5)) is None
    assert await services.autopost.tick(schedule_id, slot + timedelta(hours=1, seconds=5)) is None
    shown = await services.db.schedules.get(schedule_id)
    assert not shown.enabled and "its model is gone" in shown.paused_reason
    (notice,) = delivery.notices  # told once, through the port of the schedule's origin
    assert (notice.schedule_id, notice.guild_id, notice.channel_ids) == (schedule_id, GUILD, (7, CHANNEL))
    assert notice.origin == "schedule" and "its model is gone" in notice.reason
    with pytest.raises(NotFound, match="Unknown model"):  # resuming needs the model back
        await services.autopost.resume(MANAGER, schedule_id)
    await services.db.models.set_active("mila", True)
    assert (await services.autopost.resume(MANAGER, schedule_id)).enabled


class ClosedChannel(RecordingDelivery):
    """A port whose channels take no message: each job's result is refused as unreachable."""

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        await super().delivered(route, result)
        raise Unreachable(f"its channel <#{route.channel_id}> was deleted")


async def test_an_unreachable_channel_pauses_the_schedule(services) -> None:
    port = show_everything(services, ClosedChannel())
    await services.jobs.start()
    schedule_id = await _add(services)
    for _ in range(2):  # a second post into the closed channel: paused already, nobody is told again
        _, ticket = await services.autopost.run(MANAGER, schedule_id)
        assert (await services.jobs.wait(ticket.job_id, limit_s=30)).status == "done"
    shown = await services.db.schedules.get(schedule_id)
    assert not shown.enabled and shown.paused_reason == f"its channel <#{CHANNEL}> was deleted"
    assert [n.schedule_id for n in port.notices] == [schedule_id]
    await services.autopost.unreachable(999_999, "a job of no schedule")  # ignored


async def test_a_job_of_no_schedule_in_an_unreachable_channel_pauses_nothing(services) -> None:
    port = show_everything(services, ClosedChannel())
    await services.jobs.start()
    schedule_id = await _add(services)
    ticket = await services.generate.submit(ALICE, GenerateInput(prompt="a cat", steps=2))
    assert (await services.jobs.wait(ticket.job_id, limit_s=30)).status == "done"
    assert (await services.db.schedules.get(schedule_id)).enabled and port.notices == []


async def test_pause_resume_and_remove(services, tmp_path: Path) -> None:
    schedule_id = await _add(services)
    paused = await services.autopost.pause(MANAGER, schedule_id)
    assert not paused.enabled and paused.next_runs == () and "paused by <@3>" in paused.paused_reason
    slot = await _first_slot(services, schedule_id)
    assert await services.autopost.tick(schedule_id, slot + timedelta(seconds=5)) is None
    assert (await services.autopost.resume(MANAGER, schedule_id)).enabled
    removed = await services.autopost.remove(MANAGER, schedule_id)
    assert removed.id == schedule_id and await services.db.schedules.get(schedule_id) is None
    assert await services.autopost.tick(schedule_id, datetime.now(UTC)) is None


async def test_a_post_waits_behind_members_commands_queued_at_the_same_time(services, delivery) -> None:
    schedule_id = await _add(services)
    slot = await _first_slot(services, schedule_id)
    post = await services.autopost.tick(schedule_id, slot + timedelta(seconds=5))  # queued first
    member = await services.generate.submit(ALICE, GenerateInput(prompt="a dog", model="tiny-sd", steps=2))
    await services.jobs.start()
    await settle(services)
    assert delivery.delivered_order() == [member.job_id, post]


async def test_the_last_result_follows_the_posts_job(services) -> None:
    schedule_id = await _add(services)
    slot = await _first_slot(services, schedule_id)
    job_id = await services.autopost.tick(schedule_id, slot + timedelta(seconds=5))
    (view,) = await services.autopost.list(MANAGER)
    assert view.last_result == f"queued (job {job_id})"
    await services.db.jobs.fail(job_id, "The GPU ran out of memory.")
    (view,) = await services.autopost.list(MANAGER)
    assert view.last_result == f"failed (job {job_id}): The GPU ran out of memory."
