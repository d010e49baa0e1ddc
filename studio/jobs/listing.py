"""/queue: what runs and what waits, per lane, with ETAs; a job's summary is shown only where it was asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import LANES
from storage import Database
from storage.records import Job
from studio.contract import Caller
from studio.errors import StudioError
from studio.jobs.api import QueueEntry, QueueView
from studio.jobs.estimates import Estimates
from studio.jobs.kind import JobKind

HIDDEN = "(elsewhere)"


async def queue_view(
    db: Database, kind_of: Callable[[str], JobKind[Any] | None], estimates: Estimates, caller: Caller
) -> QueueView:
    running = [_entry(kind_of, caller, j, 0, None) for j in await db.jobs.list_running()]
    waiting: list[QueueEntry] = []
    for lane in LANES:
        jobs = await db.jobs.fair_queue(lane)
        waiting += [_entry(kind_of, caller, j, i, estimates.eta(jobs[: i + 1])) for i, j in enumerate(jobs)]
    mine = tuple(e for e in running + waiting if e.requester_id == caller.user_id)
    return QueueView(tuple(running), tuple(waiting), mine)


def _entry(
    kind_of: Callable[[str], JobKind[Any] | None], caller: Caller, job: Job, position: int, eta: float | None
) -> QueueEntry:
    # The queue is shared by every server (and DMs): a summary is shown only where the job was asked for.
    visible = job.requester_id == caller.user_id or (job.guild_id is not None and job.guild_id == caller.guild_id)
    kind = kind_of(job.kind)
    summary = HIDDEN
    if visible and kind is not None:
        try:
            summary = kind.summary(kind.parse(job.request))
        except StudioError:
            summary = job.kind
    return QueueEntry(job.id, job.kind, job.requester_id, job.status, position, eta, summary, job.lane)
