"""What the data folder's owner does at start with the jobs the last process left: a crash's, a command line's."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from storage import Database
from storage.records import Job
from studio.contract import DeliveryPort
from studio.jobs.kind import JobKind
from studio.jobs.routes import route_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leftover:
    """A job of a command line left unfinished (it died, or Ctrl+C stopped it), and what became of it."""

    job_id: int
    kind: str
    action: Literal["dropped", "kept", "failed"]  # kept: a training, waiting for `studio train --resume`
    request: Mapping[str, Any]  # the kind's stored request (a training's names its run)
    error: str | None = None

    @classmethod
    def of(cls, job: Job, action: Literal["dropped", "kept", "failed"]) -> Leftover:
        return cls(job.id, job.kind, action, job.request, job.error)


async def recover(db: Database, kinds: Mapping[str, JobKind[Any]], delivery: DeliveryPort) -> list[Leftover]:
    """Deal with the jobs a crash left running (by their kind's retry policy) and with what a dead command line
    left: its image jobs are dropped (nobody waits for them), its trainings kept for `studio train --resume`.
    Jobs whose caller awaited the answer inline are dropped: that caller went away with the restart."""
    report = await db.jobs.recover_stale({name: kind.retry for name, kind in kinds.items()})
    for job_id in report.failed:
        job = await db.jobs.get(job_id)
        if job is not None and not _silent(kinds, job):
            await delivery.failed(route_of(job), job.error or "Interrupted by a restart.")
    leftovers = await _leftovers(db, kinds, report.failed)
    for job in await db.jobs.fair_queue():
        kind = kinds.get(job.kind)
        if kind is not None and kind.answered_inline:
            log.info("job_id=%s %s dropped: its caller went away with the restart", job.id, job.kind)
            await db.jobs.cancel(job.id)
    return leftovers


async def _leftovers(db: Database, kinds: Mapping[str, JobKind[Any]], failed: Sequence[int]) -> list[Leftover]:
    """The jobs of command line processes that died (none runs now: this process owns the folder)."""
    found = []
    for job_id in failed:
        job = await db.jobs.get(job_id)
        if job is not None and job.origin == "cli":
            found.append(Leftover.of(job, "failed"))
    for job in await db.jobs.list_active(origin="cli"):
        kind = kinds.get(job.kind)
        if kind is not None and kind.retry == "resume":
            found.append(Leftover.of(job, "kept"))
        elif await db.jobs.cancel(job.id):
            found.append(Leftover.of(job, "dropped"))
    for each in found:
        log.warning("job_id=%s %s left by a command line that ended: %s", each.job_id, each.kind, each.action)
    return found


def _silent(kinds: Mapping[str, JobKind[Any]], job: Job) -> bool:
    kind = kinds.get(job.kind)
    return kind is not None and kind.silent
