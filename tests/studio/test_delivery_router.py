"""The delivery router: one port per origin, each job shown by the port of its origin, none lost without one."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from studio.contract import Deliverable, JobRoute, Unreachable
from studio.images.api import GenerateInput, JobResult
from tests.studio.conftest import ALICE, BOB, RecordingDelivery, reopen

FAST = {"steps": 2, "model": "tiny-sd", "count": 1}
AT_THE_PROMPT = replace(ALICE, origin="cli")  # the same member, asking at the command line


async def _done(services, job_id: int) -> None:
    """Wait until the job is done without waiting on it (which would make it this process's own)."""
    for _ in range(6000):
        if (await services.db.jobs.get(job_id)).status == "done":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never ran")


async def test_each_job_is_shown_by_the_port_of_its_origin_only(services) -> None:
    discord, terminal = RecordingDelivery(), RecordingDelivery()
    services.jobs.delivery.register(discord, "interaction", "schedule")
    services.jobs.delivery.register(terminal, "cli")
    await services.jobs.start()
    member = await services.generate.submit(ALICE, GenerateInput(prompt="in discord", **FAST))
    local = await services.generate.submit(AT_THE_PROMPT, GenerateInput(prompt="at the prompt", **FAST))
    for ticket in (member, local):
        assert (await services.jobs.wait(ticket.job_id, limit_s=60)).status == "done"
    assert discord.kinds(member.job_id)[0] == "queued" and discord.kinds(member.job_id)[-1] == "delivered"
    assert terminal.kinds(local.job_id)[0] == "queued" and terminal.kinds(local.job_id)[-1] == "delivered"
    assert discord.kinds(local.job_id) == [] and terminal.kinds(member.job_id) == []
    assert isinstance(terminal.results[local.job_id], JobResult)


async def test_one_port_per_origin(services) -> None:
    first, second = RecordingDelivery(), RecordingDelivery()
    router = services.jobs.delivery
    router.register(first, "interaction")
    router.register(first, "interaction", "schedule")  # the same port again: nothing changes
    with pytest.raises(ValueError, match="origin 'interaction' has a port already"):
        router.register(second, "cli", "interaction")
    assert router.port("interaction") is first and not router.serves("cli")  # all or nothing
    with pytest.raises(ValueError, match="at least one origin"):
        router.register(second)
    router.unregister("interaction")
    router.register(second, "interaction")
    assert router.port("interaction") is second and router.port("schedule") is first


async def test_a_job_whose_origin_has_no_port_here_stays_queued_until_one_registers(services, settings, host) -> None:
    waiting = await services.generate.submit(ALICE, GenerateInput(prompt="for the bot", **FAST))
    async with reopen(settings, host) as other:  # another process: it shows the command line's jobs only
        terminal = RecordingDelivery()
        other.jobs.delivery.register(terminal, "cli")
        await other.jobs.start()
        # A job of its own runs; the member's job, queued before it, is passed over: nobody here could show it.
        own = await other.generate.submit(AT_THE_PROMPT, GenerateInput(prompt="mine", **FAST))
        assert (await other.jobs.wait(own.job_id, limit_s=60)).status == "done"
        assert (await other.db.jobs.get(waiting.job_id)).status == "queued" and terminal.kinds(waiting.job_id) == []

        # The port of its origin registers (the bot comes back): the job runs and is shown there.
        discord = RecordingDelivery()
        other.jobs.delivery.register(discord, "interaction")
        await _done(other, waiting.job_id)
    assert discord.kinds(waiting.job_id)[-1] == "delivered" and terminal.kinds(waiting.job_id) == []


async def test_a_job_made_here_with_no_port_for_its_origin_is_stored_not_delivered(services) -> None:
    await services.jobs.start()
    ticket = await services.generate.submit(ALICE, GenerateInput(prompt="nobody shows me", **FAST))
    job = await services.jobs.wait(ticket.job_id, limit_s=60)
    assert job.status == "done" and not job.delivered and job.result is not None
    assert len(await services.db.images.for_job(job.id)) == 1  # the images are kept


class Refusing(RecordingDelivery):
    """A port that cannot reach any channel, and then fails outright."""

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        raise Unreachable(f"its channel <#{route.channel_id}> was deleted")

    async def failed(self, route: JobRoute, message: str) -> None:
        raise RuntimeError("a bug in the port")


async def test_a_ports_unreachable_report_goes_to_the_core_and_its_failures_stay_in_the_log(services, caplog) -> None:
    reports: list[tuple[int, str]] = []

    async def heard(job_id: int, reason: str) -> None:
        reports.append((job_id, reason))

    services.jobs.delivery.on_unreachable(heard)
    services.jobs.delivery.register(Refusing(), "interaction")
    await services.jobs.start()
    ticket = await services.generate.submit(BOB, GenerateInput(prompt="into the void", **FAST))
    job = await services.jobs.wait(ticket.job_id, limit_s=60)
    assert job.status == "done" and job.delivered  # the port had its try: not shown again after a restart
    assert reports == [(ticket.job_id, "its channel <#7> was deleted")]
    with caplog.at_level("ERROR", logger="studio.jobs.router"):
        await services.jobs.delivery.failed(JobRoute(1, 2, None, None, None, None, None), "boom")
    assert "job_id=1: delivery failed" in caplog.text  # logged, never raised into the queue
