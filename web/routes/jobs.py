"""The queue every kind of job shares: cancel a job, look at the queue (others' prompts hidden)."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import Authenticated, Bundle, Who
from web.schemas import Done, QueueEntryOut, QueueOut

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=Authenticated)


@router.post("/jobs/{job_id}/cancel", response_model=Done)
async def cancel(job_id: int, bundle: Bundle, caller: Who) -> Done:
    """✖ Cancel a queued or running job (its requester's, or a moderator's)."""
    await bundle.jobs.job(caller, job_id)  # a job the caller may not see reads as not found
    await bundle.jobs.cancel(caller, job_id)
    return Done()


@router.get("/queue", response_model=QueueOut)
async def queue(bundle: Bundle, caller: Who) -> QueueOut:
    """What runs and what waits, per lane; a job's prompt is shown only where it was asked for."""
    view = await bundle.jobs.queue(caller)
    return QueueOut(
        running=[QueueEntryOut.of(entry, caller.user_id) for entry in view.running],
        waiting=[QueueEntryOut.of(entry, caller.user_id) for entry in view.waiting],
    )
