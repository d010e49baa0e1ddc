"""A new kind of job is one module: its kind (services) and its task (engine), registered; nothing else changes.

`EchoKind` below is such a module, written the way `train` or `sheet` will be: a batch-lane kind that
resumes after a crash. The tests run it through the real queue, admission, delivery and backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.backends import WorkContext, WorkerLost
from engine.work import WorkOrder
from storage.records import Job
from studio.errors import NotFound, StudioError
from studio.images.api import GenerateInput
from studio.jobs import Completion, JobKind
from studio.jobs.kind import KindStats, check_version
from tests.studio.conftest import ALICE, BOB, GUILD, RecordingDelivery, reopen, show_everything

FAST = {"steps": 2, "model": "tiny-sd"}

# ---------------------------------------------------------------- the new kind's module


@dataclass(frozen=True)
class EchoRequest:
    VERSION: ClassVar[int] = 1

    text: str
    rounds: int = 3
    gate: str | None = None  # a file the engine task waits for, yielding to interactive work meanwhile

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, "text": self.text, "rounds": self.rounds, "gate": self.gate}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EchoRequest:
        check_version(data, cls.VERSION, "echo")
        return cls(str(data["text"]), int(data["rounds"]), data.get("gate"))


class EchoKind(JobKind[EchoRequest]):
    name = "echo"
    label = "Echoing"
    lane = "batch"
    retry = "resume"
    default_unit_s = 30.0

    def parse(self, data: Mapping[str, Any]) -> EchoRequest:
        return EchoRequest.from_json(data)

    def dump(self, request: EchoRequest) -> dict[str, Any]:
        return request.to_json()

    def summary(self, request: EchoRequest) -> str:
        return f"echo {request.text!r}"

    async def order(self, job: Job, request: EchoRequest) -> WorkOrder:
        return WorkOrder(job.id, "echo", request)

    async def complete(self, job: Job, request: EchoRequest, outcome: str) -> Completion:
        return Completion(result={"v": 1, "echo": outcome})


def echo_task(order: WorkOrder, ctx: WorkContext, host: object) -> str:
    request = order.request
    assert isinstance(request, EchoRequest)
    if request.gate is not None:
        while not Path(request.gate).exists():
            ctx.raise_if_cancelled()
            ctx.yield_now()  # a batch job lets interactive jobs run between its steps
            time.sleep(0.005)
    for n in range(1, request.rounds + 1):
        ctx.report(n, request.rounds)
        ctx.yield_now()
    return request.text.upper()


# ---------------------------------------------------------------- the tests


@pytest.fixture
def echo(services, host) -> EchoKind:
    kind = EchoKind()
    services.jobs.register(kind)
    host.register_task("echo", echo_task)
    return kind


async def test_a_registered_kind_runs_through_the_queue(services, delivery, echo) -> None:
    await services.jobs.start()
    ticket = await services.jobs.submit(ALICE, "echo", EchoRequest("hello"))
    job = await services.jobs.wait(ticket.job_id, limit_s=30)
    assert (job.status, job.kind, job.lane, job.result) == ("done", "echo", "batch", {"v": 1, "echo": "HELLO"})
    assert job.request == {"v": 1, "text": "hello", "rounds": 3, "gate": None}
    assert delivery.kinds(job.id) == ["queued", *["progress"] * len(delivery.kinds(job.id)[1:])]
    assert set(delivery.labels) == {"Echoing"}  # progress names the kind
    with pytest.raises(ValueError, match="already registered"):
        services.jobs.register(EchoKind())


async def test_a_batch_job_does_not_hold_interactive_jobs_behind_it(services, delivery, echo, tmp_path) -> None:
    await services.jobs.start()
    gate = tmp_path / "gate"
    batch = await services.jobs.submit(ALICE, "echo", EchoRequest("long run", gate=str(gate)))
    for _ in range(200):
        if (await services.db.jobs.get(batch.job_id)).status == "running":
            break
        await asyncio.sleep(0.01)
    image = await services.generate.submit(BOB, GenerateInput("a cat", count=1, **FAST))
    assert image.position == 0  # its lane is empty: the batch job is not ahead of it
    assert (await services.jobs.wait(image.job_id, limit_s=30)).status == "done"
    assert (await services.db.jobs.get(batch.job_id)).status == "running"
    gate.touch()
    assert (await services.jobs.wait(batch.job_id, limit_s=30)).status == "done"
    assert delivery.delivered_order() == [image.job_id]  # the echo kind delivers nothing


async def test_each_kind_has_its_own_eta(services, delivery, echo) -> None:
    generate = services.jobs.kind("generate")
    before = services.jobs.estimates.stats(generate).per_unit_s
    await services.jobs.start()
    for text in ("a", "b"):
        ticket = await services.jobs.submit(ALICE, "echo", EchoRequest(text))
        await services.jobs.wait(ticket.job_id, limit_s=30)
    assert services.jobs.estimates.stats(generate).per_unit_s == before  # echo runs taught generate nothing
    assert services.jobs.estimates.stats(echo).samples == 2
    # A queued generation's ETA counts the generations ahead of it, never the batch lane.
    await services.jobs.stop()
    await services.jobs.submit(ALICE, "echo", EchoRequest("x"))
    ticket = await services.generate.submit(BOB, GenerateInput("a dog", count=2, **FAST))
    assert ticket.eta_s == pytest.approx(before * 2, abs=0.1)
    view = await services.jobs.queue(BOB)
    assert [(e.kind, e.lane, e.position) for e in view.waiting] == [
        ("generate", "interactive", 0),
        ("echo", "batch", 0),
    ]
    assert view.waiting[1].summary == "echo 'x'"


def test_kind_stats_learn_a_moving_average() -> None:
    stats = KindStats(per_unit_s=5.0)
    stats.learn(elapsed_s=8.0, units=4)  # the first measurement replaces the default
    assert stats.per_unit_s == 2.0
    stats.learn(elapsed_s=4.0, units=1)
    assert stats.per_unit_s == pytest.approx(0.7 * 2.0 + 0.3 * 4.0)


async def test_a_lost_worker_is_retried_by_the_kinds_policy(services, delivery, host) -> None:
    lost: list[int] = []

    def flaky(order: WorkOrder, ctx: WorkContext, _host: object) -> object:
        if order.job_id not in lost:  # the worker dies under each job once
            lost.append(order.job_id)
            raise WorkerLost("node 2 went away")
        return original(order, ctx, _host)

    from engine.tasks import generate as generate_task

    original = generate_task.run
    host.register_task("generate", flaky)
    await services.jobs.start()
    ticket = await services.generate.submit(ALICE, GenerateInput("a cat", count=1, **FAST))
    job = await services.jobs.wait(ticket.job_id, limit_s=30)
    assert (job.status, job.attempts) == ("done", 2)  # requeued once, then delivered
    assert delivery.kinds(job.id).count("delivered") == 1

    def dead(order: WorkOrder, ctx: WorkContext, _host: object) -> object:
        raise WorkerLost("node 2 went away")

    host.register_task("generate", dead)
    ticket = await services.generate.submit(ALICE, GenerateInput("a dog", count=1, **FAST))
    job = await services.jobs.wait(ticket.job_id, limit_s=30)
    assert (job.status, job.attempts) == ("failed", 2)
    assert job.error == "The worker running this job stopped (node 2 went away)."
    assert delivery.kinds(job.id)[-1] == "failed"


async def test_a_crash_resumes_a_batch_job_and_fails_a_describe(services, settings, host, echo) -> None:
    from studio.images.describe import DescribeRequest

    trained = await services.jobs.submit(ALICE, "echo", EchoRequest("resume me"))
    for _ in range(3):  # three crashes while it runs: "resume" allows more tries than "requeue"
        await services.db.jobs.start(trained.job_id)
        await services.db.jobs.recover_stale({"echo": "resume"})
    described = await services.jobs.submit(ALICE, "describe", DescribeRequest("/up/x.png", 2))
    await services.db.jobs.start(described.job_id)
    fresh = RecordingDelivery()
    async with reopen(settings, host) as restarted:
        restarted.jobs.register(EchoKind())
        show_everything(restarted, fresh)
        await restarted.jobs.start()
        job = await restarted.jobs.wait(trained.job_id, limit_s=30)
        assert (job.status, job.attempts, job.result) == ("done", 4, {"v": 1, "echo": "RESUME ME"})
        gone = await restarted.db.jobs.get(described.job_id)
        assert (gone.status, gone.error) == ("failed", "interrupted once by a restart")
    assert fresh.kinds(described.job_id) == []  # nobody waits for a describe any more: no message about it


async def test_a_job_of_a_kind_this_bot_no_longer_runs_fails_clearly(services, delivery) -> None:
    job = await services.db.jobs.create("retired", {"v": 1}, ALICE.user_id, guild_id=GUILD, channel_id=7)
    await services.jobs.start()
    done = await services.jobs.wait(job.id, limit_s=30)
    assert done.status == "failed" and "no longer runs jobs of kind 'retired'" in done.error
    with pytest.raises(NotFound):
        services.jobs.kind("retired")


async def test_a_request_from_a_newer_version_is_refused(services, delivery, echo) -> None:
    job = await services.db.jobs.create("echo", {"v": 99, "text": "x"}, ALICE.user_id, guild_id=GUILD, lane="batch")
    await services.jobs.start()
    done = await services.jobs.wait(job.id, limit_s=30)
    assert done.status == "failed" and "newer version of the bot" in done.error
    with pytest.raises(StudioError, match="newer version"):
        echo.parse({"v": 2, "text": "x", "rounds": 1})
