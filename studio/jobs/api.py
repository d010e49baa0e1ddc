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


class QueueApi(Protocol):
    """The queue every kind of job shares: cancel a job, look at the queue."""

    async def cancel(self, caller: Caller, job_id: int) -> None: ...

    async def queue(self, caller: Caller) -> QueueView: ...
