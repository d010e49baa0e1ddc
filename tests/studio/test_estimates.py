"""ETAs: each kind's pace, and a queue's worth of waiting requests parsed once, not on every submit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from storage.records import Job
from studio.jobs.estimates import Estimates
from studio.jobs.kind import JobKind


class _Counting(JobKind[int]):
    name = "count"
    default_unit_s = 2.0

    def __init__(self) -> None:
        self.parses = 0

    def parse(self, data: Mapping[str, Any]) -> int:
        self.parses += 1
        return int(data["images"])

    def dump(self, request: int) -> dict[str, Any]:
        return {"images": request}

    def summary(self, request: int) -> str:
        return f"{request} images"

    def cost(self, request: int) -> int:
        return request

    async def order(self, job: Job, request: int) -> Any:
        raise NotImplementedError

    async def complete(self, job: Job, request: int, outcome: Any) -> Any:
        raise NotImplementedError


def _job(job_id: int, images: int) -> Job:
    return Job(
        id=job_id, kind="count", status="queued", request={"images": images}, requester_id=1, guild_id=None,
        channel_id=None, message_id=None, interaction_token=None, token_expires_at=None, origin="cli",
        lane="interactive", priority=0, attempts=0, error=None, result=None, delivered=False,
        created_at=datetime.now(UTC), started_at=None, finished_at=None,
    )  # fmt: skip


def test_eta_sums_the_jobs_ahead_and_follows_the_learnt_pace() -> None:
    kind = _Counting()
    estimates = Estimates({"count": kind}.get)
    waiting = [_job(1, 4), _job(2, 1)]
    assert estimates.eta(waiting) == 10.0  # 5 images at the default 2 s
    estimates.learn(kind, 4, elapsed_s=2.0)  # 0.5 s an image
    assert estimates.eta(waiting) == 2.5


def test_a_burst_parses_each_waiting_request_once() -> None:
    kind = _Counting()
    estimates = Estimates({"count": kind}.get)
    waiting: list[Job] = []
    for job_id in range(1, 201):  # each submit estimates everything ahead of it, as `JobQueue._announce` does
        waiting.append(_job(job_id, 1))
        estimates.eta(waiting)
    assert kind.parses == 200


def test_unknown_kinds_and_unreadable_requests_still_get_an_estimate() -> None:
    kind = _Counting()
    estimates = Estimates({"count": kind}.get)
    assert estimates.of(_other(1)) == 5.0
    broken = _job(2, 1)
    broken.request.clear()
    assert estimates.of(broken) == 2.0


def _other(job_id: int) -> Job:
    from dataclasses import replace

    return replace(_job(job_id, 1), kind="gone")


def test_a_lanes_etas_in_one_pass_match_each_jobs_own_eta() -> None:
    kind = _Counting()
    estimates = Estimates({"count": kind}.get)
    estimates.learn(kind, 3, elapsed_s=1.0)  # a third of a second an image: sums that round
    lane = [_job(n, images) for n, images in enumerate([4, 1, 7, 2, 5], start=1)]
    assert estimates.etas(lane) == [estimates.eta(lane[: i + 1]) for i in range(len(lane))]
    assert estimates.etas(lane)[-1] == 6.3  # 19 images
    assert kind.parses == 5  # each request parsed once, whatever the number of jobs behind it
