"""What the adapters may ask of the queue every kind of job shares, and what they get back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from studio.contract import Caller


@dataclass(frozen=True)
class QueueEntry:
    job_id: int
    kind: str
    requester_id: int
    status: str
    position: int  # in the job's lane
    eta_s: float | None
    summary: str  # the kind's one-line summary (a prompt, a set name, ...); hidden outside its server
    lane: str = "interactive"


@dataclass(frozen=True)
class QueueView:
    running: tuple[QueueEntry, ...]
    waiting: tuple[QueueEntry, ...]
    mine: tuple[QueueEntry, ...] = field(default=())


@dataclass(frozen=True)
class JobView:
    """One job as its requester (or a moderator of its server) sees it: where it is and how far it got."""

    job_id: int
    kind: str
    requester_id: int
    status: str  # queued | running | done | failed | cancelled
    position: int | None  # in its lane while queued (0 = next); None once it runs or ended
    eta_s: float | None  # until it ends, while queued
    step: int  # the last step a running job reported (0 before its first)
    summary: str  # the kind's one-line summary (the prompt, ...)
    error: str | None


class QueueApi(Protocol):
    """The queue every kind of job shares: cancel a job, look at the queue, look at one job."""

    async def cancel(self, caller: Caller, job_id: int) -> None: ...

    async def queue(self, caller: Caller) -> QueueView: ...

    async def job(self, caller: Caller, job_id: int) -> JobView:
        """The job `job_id`, if `caller` may see it (`studio.jobs.listing.may_see`); NotFound otherwise."""
        ...
