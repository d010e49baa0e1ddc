from __future__ import annotations

import asyncio

import pytest

from storage import Database


class Boom(Exception):
    pass


async def test_an_exception_rolls_everything_back(db: Database) -> None:
    created: list[int] = []

    async def work() -> None:
        async with db.transaction():
            job = await db.jobs.create("generate", {}, 1)
            created.append(job.id)
            await db.jobs.start(job.id)  # opens its own transaction, which joins this one
            await db.usage.add(1, 7, 4)
            raise Boom

    with pytest.raises(Boom):
        await work()
    assert await db.jobs.get(created[0]) is None
    assert await db.usage.images_on(1, 7) == 0


async def test_a_committed_transaction_keeps_everything(db: Database) -> None:
    async with db.transaction():
        job = await db.jobs.create("generate", {}, 1)
        await db.usage.add(1, 7, 4)
    assert (await db.jobs.get(job.id)).status == "queued"
    assert await db.usage.images_on(1, 7) == 4


async def test_other_tasks_wait_and_are_not_caught_in_a_rollback(db: Database) -> None:
    inside = asyncio.Event()
    seen_by_other: list[object] = []

    async def failing_writer() -> None:
        async with db.transaction():
            await db.jobs.create("generate", {"who": "a"}, 1)
            inside.set()
            await asyncio.sleep(0.05)  # another task runs now and must not slip into this transaction
            raise Boom

    async def other() -> None:
        await inside.wait()
        seen_by_other.append(await db.jobs.next_fair())  # waits for the first transaction to end
        await db.jobs.create("generate", {"who": "b"}, 2)

    results = await asyncio.gather(failing_writer(), other(), return_exceptions=True)
    assert isinstance(results[0], Boom)
    assert results[1] is None
    assert seen_by_other == [None]
    assert [job.request["who"] for job in await db.jobs.fair_queue()] == ["b"]


async def test_a_cancelled_task_leaves_no_open_transaction(db: Database) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction():
            await db.jobs.create("generate", {}, 1)
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.jobs.fair_queue() == []
    async with db.transaction():  # usable again
        await db.jobs.create("generate", {}, 2)
    assert len(await db.jobs.fair_queue()) == 1


async def test_closed_database_refuses_work(db: Database) -> None:
    await db.close()
    await db.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await db.jobs.get(1)
