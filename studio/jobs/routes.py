"""Where a job's messages go (its route, from its row), and a guard for what follows a delivery."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from storage.records import Job
from studio.contract import JobRoute

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


async def safely(call: Awaitable[Any]) -> Any:
    """A failure after a delivery (recording the post, say) is logged and never breaks the job's bookkeeping."""
    try:
        return await call
    except Exception:
        log.exception("delivery failed")
        return None
