from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import Database, JobStateError, NotFoundError

from .conftest import FakeClock

A, B, C = 101, 202, 303


async def _queue(db: Database, user: int, n: int = 1, priority: int = 0) -> list[int]:
    return [(await db.jobs.create("generate", {"prompt": f"{user}-{i}"}, user, priority=priority)).id for i in range(n)]


async def test_create_and_get_round_trip(db: Database) -> None:
    expires = datetime(2025, 3, 2, 0, 15, tzinfo=UTC)
    job = await db.jobs.create(
        "generate",
        {"prompt": "a cat", "count": 4, "nested": {"x": [1, 2]}},
        A,
        guild_id=9,
        channel_id=10,
        priority=3,
        interaction_token="tok",
        token_expires_at=expires,
    )
    assert job.status == "queued"
    assert job.request == {"prompt": "a cat", "count": 4, "nested": {"x": [1, 2]}}
    assert (job.guild_id, job.channel_id, job.priority, job.interaction_token) == (9, 10, 3, "tok")
    assert job.token_expires_at == expires
    assert job.created_at.tzinfo is not None
    assert job.created_at.utcoffset() == timedelta(0)
    assert (job.attempts, job.delivered, job.result, job.error, job.started_at) == (0, False, None, None, None)
    assert await db.jobs.get(job.id) == job
    assert await db.jobs.get(9999) is None


async def test_naive_token_expiry_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await db.jobs.create("generate", {}, A, token_expires_at=datetime(2025, 1, 1))  # noqa: DTZ001


async def test_a_flooding_user_does_not_starve_a_later_one(db: Database) -> None:
    flood = await _queue(db, A, 8)
    (late,) = await _queue(db, B)
    order = [job.id for job in await db.jobs.fair_queue()]
    assert order == [flood[0], late, *flood[1:]]
    assert await db.jobs.position(late) == 1
    assert await db.jobs.position(flood[-1]) == 8
    assert (await db.jobs.next_fair()).id == flood[0]


async def test_a_running_job_counts_as_a_turn_taken(db: Database) -> None:
    flood = await _queue(db, A, 3)
    await db.jobs.start(flood[0])  # A's first job runs; B arrives afterwards
    (late,) = await _queue(db, B)
    assert (await db.jobs.next_fair()).id == late
    assert [job.id for job in await db.jobs.fair_queue()] == [late, flood[1], flood[2]]
    await db.jobs.finish(flood[0], {})  # still a turn taken once it is done
    assert (await db.jobs.next_fair()).id == late


async def test_round_robin_between_three_users(db: Database) -> None:
    a = await _queue(db, A, 3)
    b = await _queue(db, B, 2)
    c = await _queue(db, C, 1)
    order = [job.id for job in await db.jobs.fair_queue()]
    assert order == [a[0], b[0], c[0], a[1], b[1], a[2]]


async def test_priority_beats_order_and_turns(db: Database) -> None:
    a = await _queue(db, A, 3)
    (urgent,) = await _queue(db, A, 1, priority=5)
    (b,) = await _queue(db, B)
    order = [job.id for job in await db.jobs.fair_queue()]
    # The urgent job runs first, and counts as A's first turn, so B goes before A's normal jobs.
    assert order == [urgent, b, *a]
    assert await db.jobs.position(urgent) == 0


async def test_position_is_none_for_jobs_not_waiting(db: Database) -> None:
    (job_id,) = await _queue(db, A)
    await db.jobs.start(job_id)
    assert await db.jobs.position(job_id) is None
    assert await db.jobs.position(424242) is None
    assert await db.jobs.next_fair() is None


async def test_life_cycle_done(db: Database) -> None:
    (job_id,) = await _queue(db, A)
    running = await db.jobs.start(job_id)
    assert (running.status, running.attempts) == ("running", 1)
    assert running.started_at is not None
    assert [j.id for j in await db.jobs.list_running()] == [job_id]
    with pytest.raises(JobStateError, match="running; expected queued"):
        await db.jobs.start(job_id)
    done = await db.jobs.finish(job_id, {"image_ids": [1, 2]})
    assert (done.status, done.result) == ("done", {"image_ids": [1, 2]})
    assert done.finished_at is not None
    assert done.finished_at >= running.started_at
    assert await db.jobs.list_running() == []
    with pytest.raises(JobStateError):
        await db.jobs.finish(job_id, {})
    with pytest.raises(JobStateError):
        await db.jobs.fail(job_id, "late")
    assert await db.jobs.cancel(job_id) is False


async def test_fail_cancel_and_missing_jobs(db: Database) -> None:
    first, second, third = await _queue(db, A, 3)
    failed = await db.jobs.fail(first, "blocked word")
    assert (failed.status, failed.error) == ("failed", "blocked word")
    assert await db.jobs.cancel(second) is True
    assert (await db.jobs.get(second)).status == "cancelled"
    assert await db.jobs.cancel(second) is False
    await db.jobs.start(third)
    assert await db.jobs.cancel(third) is True
    with pytest.raises(NotFoundError):
        await db.jobs.start(999)
    with pytest.raises(NotFoundError):
        await db.jobs.mark_delivered(999, 1)
    with pytest.raises(NotFoundError):
        await db.jobs.set_message(999, 1, 2)


async def test_messages_delivery_and_user_lists(db: Database) -> None:
    (job_id,) = await _queue(db, A)
    await db.jobs.set_message(job_id, 55, 66)
    job = await db.jobs.get(job_id)
    assert (job.channel_id, job.message_id, job.delivered) == (55, 66, False)
    await db.jobs.mark_delivered(job_id, 77)
    job = await db.jobs.get(job_id)
    assert (job.message_id, job.delivered) == (77, True)
    await db.jobs.mark_delivered(job_id)  # keeps the message id
    assert (await db.jobs.get(job_id)).message_id == 77

    more = await _queue(db, A, 2)
    await db.jobs.create("generate", {}, A, guild_id=5)
    await _queue(db, B)
    await db.jobs.cancel(more[0])
    assert await db.jobs.count_active(A) == 3
    assert await db.jobs.count_active(A, guild_id=5) == 1
    assert await db.jobs.count_active(B) == 1
    listed = await db.jobs.list_for_user(A, limit=2)
    assert len(listed) == 2
    assert listed[0].created_at > listed[1].created_at
    assert all(j.requester_id == A for j in await db.jobs.list_for_user(A, 50))


async def test_recover_stale_requeues_once_then_fails(db: Database) -> None:
    (job_id,) = await _queue(db, A)
    await db.jobs.start(job_id)
    report = await db.jobs.recover_stale()  # the bot crashed during the first attempt
    assert report.requeued == (job_id,)
    job = await db.jobs.get(job_id)
    assert (job.status, job.started_at, job.attempts) == ("queued", None, 1)
    await db.jobs.start(job_id)
    report = await db.jobs.recover_stale()  # and again during the second
    assert (report.requeued, report.failed) == ((), (job_id,))
    job = await db.jobs.get(job_id)
    assert job.status == "failed"
    assert "interrupted twice by a restart" in job.error
    assert (await db.jobs.recover_stale()).failed == ()


async def test_requeue_after_a_clean_shutdown_does_not_count_the_attempt(db: Database) -> None:
    (job_id,) = await _queue(db, A)
    await db.jobs.start(job_id)
    job = await db.jobs.requeue(job_id)
    assert (job.status, job.attempts, job.started_at) == ("queued", 0, None)
    with pytest.raises(JobStateError):
        await db.jobs.requeue(job_id)  # only a running job goes back


async def test_recover_stale_completes_delivered_jobs(db: Database) -> None:
    delivered, plain = await _queue(db, A, 2)
    untouched = (await _queue(db, B))[0]
    await db.jobs.start(delivered)
    await db.jobs.mark_delivered(delivered, 1)
    await db.jobs.start(plain)
    report = await db.jobs.recover_stale()
    assert report.completed == (delivered,)
    assert report.requeued == (plain,)
    assert (await db.jobs.get(delivered)).status == "done"
    assert (await db.jobs.get(untouched)).status == "queued"


async def test_timestamps_follow_the_clock(db: Database, clock: FakeClock) -> None:
    (job_id,) = await _queue(db, A)
    clock.advance(hours=2)
    started = await db.jobs.start(job_id)
    assert started.started_at - started.created_at >= timedelta(hours=2)


async def test_each_lane_has_its_own_fair_order_and_positions(db: Database) -> None:
    first = await db.jobs.create("generate", {}, A)
    train = await db.jobs.create("train", {}, A, lane="batch")
    second = await db.jobs.create("generate", {}, B)
    assert (train.lane, first.lane) == ("batch", "interactive")
    assert (await db.jobs.next_fair("interactive")).id == first.id
    assert (await db.jobs.next_fair("batch")).id == train.id
    assert await db.jobs.position(train.id) == 0  # counted in its own lane
    assert await db.jobs.position(second.id) == 1
    assert [j.id for j in await db.jobs.fair_queue()] == [first.id, second.id, train.id]
    assert [j.id for j in await db.jobs.fair_queue("batch")] == [train.id]
    with pytest.raises(ValueError, match="lane"):
        await db.jobs.create("generate", {}, A, lane="express")


async def test_origin_is_recorded(db: Database) -> None:
    job = await db.jobs.create("generate", {}, A, origin="schedule")
    assert (await db.jobs.get(job.id)).origin == "schedule"
    assert (await db.jobs.create("generate", {}, A)).origin == "interaction"


async def test_recover_stale_follows_each_kinds_retry_policy(db: Database) -> None:
    described = await db.jobs.create("describe", {}, A)
    trained = await db.jobs.create("train", {}, A, lane="batch")
    generated = await db.jobs.create("generate", {}, B)
    policies = {"describe": "fail", "train": "resume"}
    for _ in range(3):  # three crashes in a row
        for job in (described, trained, generated):
            if (await db.jobs.get(job.id)).status == "queued":
                await db.jobs.start(job.id)
        await db.jobs.recover_stale(policies)
    assert (await db.jobs.get(described.id)).status == "failed"  # nobody waits for its answer any more
    assert (await db.jobs.get(generated.id)).status == "failed"  # requeued once, then failed
    resumed = await db.jobs.get(trained.id)
    assert (resumed.status, resumed.attempts) == ("queued", 3)  # resumed from its checkpoint each time
    await db.jobs.start(trained.id)
    with pytest.raises(ValueError, match="retry policy"):
        await db.jobs.recover_stale({"train": "sometimes"})


async def test_retry_after_a_lost_worker_counts_the_attempt(db: Database) -> None:
    (job_id,) = await _queue(db, A)
    await db.jobs.start(job_id)
    job = await db.jobs.retry(job_id)
    assert (job.status, job.attempts, job.started_at) == ("queued", 1, None)
    with pytest.raises(JobStateError):
        await db.jobs.retry(job_id)


def test_the_stored_lanes_are_the_engines() -> None:
    # storage imports nothing of the project, so it spells the lanes again; the engine's Lane is the one the
    # kinds and backends use, and a job stored in a lane the backends lack would never run.
    from engine.backends import LANES as ENGINE_LANES
    from storage.repos.jobs import LANES

    assert LANES == ENGINE_LANES
