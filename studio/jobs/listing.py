"""/queue: what runs and what waits, per lane, with ETAs; a job's summary is shown only where it was asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import LANES
from storage import Database
from storage.records import Job
from studio.contract import Caller
from studio.errors import NotFound, StudioError
from studio.jobs.api import JobView, QueueEntry, QueueView
from studio.jobs.estimates import Estimates
from studio.jobs.kind import JobKind

HIDDEN = "(elsewhere)"


def may_see(caller: Caller, job: Job) -> bool:
    """Whether `caller` may look at a job and its files: its requester, a moderator of its server, the owner.

    Ids are sequential, so every look-up by id checks this (a refused one reads as not found: nothing to probe).
    """
    return (
        caller.user_id == job.requester_id
        or caller.bypasses_server_policy
        or (caller.may_moderate and job.guild_id is not None and job.guild_id == caller.guild_id)
    )


async def job_view(
    db: Database,
    kind_of: Callable[[str], JobKind[Any] | None],
    estimates: Estimates,
    caller: Caller,
    job_id: int,
    step: int,
) -> JobView:
    job = await db.jobs.get(job_id)
    if job is None or not may_see(caller, job):
        raise NotFound(f"There is no job {job_id} of yours.")
    position = eta = None
    if job.status == "queued":
        lane = await db.jobs.fair_queue(job.lane)
        position = next((i for i, j in enumerate(lane) if j.id == job.id), None)
        eta = estimates.eta(lane[: position + 1]) if position is not None else None
    summary = _summary(kind_of, job)  # whoever may see the job may read what it asks
    return JobView(job.id, job.kind, job.requester_id, job.status, position, eta, step, summary, job.error)


async def queue_view(
    db: Database, kind_of: Callable[[str], JobKind[Any] | None], estimates: Estimates, caller: Caller
) -> QueueView:
    running = [_entry(kind_of, caller, j, 0, None) for j in await db.jobs.list_running()]
    waiting: list[QueueEntry] = []
    for lane in LANES:
        jobs = await db.jobs.fair_queue(lane)
        etas = estimates.etas(jobs)
        waiting += [_entry(kind_of, caller, j, i, eta) for i, (j, eta) in enumerate(zip(jobs, etas, strict=True))]
    mine = tuple(e for e in running + waiting if e.requester_id == caller.user_id)
    return QueueView(tuple(running), tuple(waiting), mine)


def _entry(
    kind_of: Callable[[str], JobKind[Any] | None], caller: Caller, job: Job, position: int, eta: float | None
) -> QueueEntry:
    # The queue is shared by every server (and DMs): a summary is shown only where the job was asked for.
    visible = job.requester_id == caller.user_id or (job.guild_id is not None and job.guild_id == caller.guild_id)
    summary = _summary(kind_of, job) if visible else HIDDEN
    return QueueEntry(job.id, job.kind, job.requester_id, job.status, position, eta, summary, job.lane)


def _summary(kind_of: Callable[[str], JobKind[Any] | None], job: Job) -> str:
    kind = kind_of(job.kind)
    if kind is None:
        return HIDDEN
    try:
        return kind.summary(kind.parse(job.request))
    except StudioError:
        return job.kind
