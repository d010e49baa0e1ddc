"""Where a job's messages go, and the port that shows them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from storage.records import Job
from studio.contract import Deliverable, JobRoute, Progress

log = logging.getLogger(__name__)


def route_of(job: Job) -> JobRoute:
    """The route of a job, from its row: jobs recovered after a restart are shown the same way."""
    return JobRoute(
        job_id=job.id,
        requester_id=job.requester_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        message_id=job.message_id,
        interaction_token=job.interaction_token,
        token_expires_at=job.token_expires_at,
        origin=job.origin,
    )


class NullDelivery:
    """The DeliveryPort used until an adapter registers its own."""

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        return None

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        return None

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        return None

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        return None

    async def failed(self, route: JobRoute, message: str) -> None:
        return None

    async def cancelled(self, route: JobRoute) -> None:
        return None


async def safely(call: Awaitable[Any]) -> Any:
    """A delivery failure is logged and never breaks the job's bookkeeping."""
    try:
        return await call
    except Exception:
        log.exception("delivery failed")
        return None
