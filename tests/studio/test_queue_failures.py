"""The queue never leaves a job 'running', never loses an outcome it showed, never loses track of an attempt."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from engine.backends import WorkContext, WorkerLost
from engine.tasks import generate as generate_task
from engine.work import WorkOrder
from studio.images.api import GenerateInput, VaryImageInput
from tests.studio.conftest import ALICE, GUILD, reopen

FAST = {"steps": 2, "model": "tiny-sd"}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_crash_after_the_delivery_keeps_the_output_prompt(settings, host, services, delivery, monkeypatch):
    """The outcome is stored before it is shown: rerolls and remixes after the restart start from it."""
    await services.jobs.start()

    async def crash(job_id: int, result: dict) -> None:
        raise RuntimeError("the process dies here")

    real_finish = services.db.jobs.finish
    monkeypatch.setattr(services.db.jobs, "finish", crash)
    ticket = await services.edits.vary_image(ALICE, _png(), VaryImageInput("make it blue", count=1))
    for _ in range(300):
        if "delivered" in delivery.kinds(ticket.job_id):
            break
        await asyncio.sleep(0.01)
    shown = delivery.results[ticket.job_id].prompt
    assert shown == "a photo of a cat, make it blue"
    monkeypatch.setattr(services.db.jobs, "finish", real_finish)
    async with reopen(settings, host) as restarted:
        await restarted.jobs.start()
        job = await restarted.jobs.find(ticket.job_id)
        assert job.status == "done" and job.result["full_prompt"] == shown
        assert await restarted.followups.remix_prompt(ticket.job_id) == shown
        assert (await restarted.followups.result(ticket.job_id)).prompt == shown


async def test_an_error_while_completing_ends_the_job(services, delivery, monkeypatch) -> None:
    await services.jobs.start()

    async def broken(*args, **kwargs) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.db.usage, "add", broken)  # fails after the result was shown
    shown = await services.generate.submit(ALICE, GenerateInput("a cat", count=1, **FAST))
    assert (await services.jobs.wait(shown.job_id, limit_s=30)).status == "done"
    monkeypatch.setattr(services.db.images, "add", broken)  # fails before anything was shown
    unseen = await services.generate.submit(ALICE, GenerateInput("a dog", count=1, **FAST))
    job = await services.jobs.wait(unseen.job_id, limit_s=30)
    assert job.status == "failed" and delivery.kinds(unseen.job_id)[-1] == "failed"


async def test_a_row_this_version_cannot_read_fails_and_the_queue_goes_on(services, delivery) -> None:
    bad = await services.db.jobs.create("vary", {"v": 1, "prompt": "x"}, ALICE.user_id, guild_id=GUILD, channel_id=7)
    worse = await services.db.jobs.create("generate", {"v": 1, "loras": None}, ALICE.user_id, guild_id=GUILD)
    await services.jobs.start()
    for job_id in (bad.id, worse.id):
        job = await services.jobs.wait(job_id, limit_s=30)
        assert job.status == "failed" and "stored request is incomplete" in job.error
    ticket = await services.generate.submit(ALICE, GenerateInput("a cat", count=1, **FAST))
    assert (await services.jobs.wait(ticket.job_id, limit_s=30)).status == "done"


async def test_the_next_attempt_after_a_lost_worker_can_still_be_cancelled(services, delivery, host, monkeypatch):
    lost: list[int] = []

    def flaky(order: WorkOrder, ctx: WorkContext, _host: object) -> object:
        if order.job_id not in lost:
            lost.append(order.job_id)
            raise WorkerLost("gone")
        return generate_task.run(order, ctx, _host)  # type: ignore[arg-type]

    host.register_task("generate", flaky)
    real_retry = services.db.jobs.retry

    async def slow_retry(job_id: int):
        job = await real_retry(job_id)
        services.jobs._kick()  # another event wakes the pump: the next attempt starts at once
        await asyncio.sleep(0.3)  # while the first attempt's watcher is still winding down
        return job

    monkeypatch.setattr(services.db.jobs, "retry", slow_retry)
    await services.jobs.start()
    ticket = await services.generate.submit(ALICE, GenerateInput("a cat", count=1, steps=50, model="tiny-sd"))
    for _ in range(300):
        job = await services.db.jobs.get(ticket.job_id)
        if job.status == "running" and job.attempts == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.35)  # the first watcher has ended
    assert ticket.job_id in services.jobs._handles
    await services.jobs.cancel(ALICE, ticket.job_id)
    assert (await services.jobs.wait(ticket.job_id, limit_s=30)).status == "cancelled"


async def test_answers_awaited_inline_get_no_progress_messages(services, delivery) -> None:
    await services.jobs.start()
    result = await services.describe.describe(ALICE, _png(), 3)
    assert len(result.prompts) == 3
    assert delivery.kinds(result.job_id) == []
