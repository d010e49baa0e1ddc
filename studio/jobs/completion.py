"""The end of a job that ran: its outcome stored, shown, its images posted, the job done and charged."""

from __future__ import annotations

import logging

from engine import WorkerLost
from storage import Database
from storage.records import Job
from studio.jobs.admission import account_of
from studio.jobs.kind import Completion
from studio.jobs.router import DeliveryRouter
from studio.jobs.routes import route_of, safely

log = logging.getLogger(__name__)


MAX_ATTEMPTS = {"requeue": 2, "resume": 5, "fail": 1}


async def retry_after_lost_worker(db: Database, job: Job, retry: str, exc: WorkerLost) -> bool:
    """A worker died under the job: queue it again if its kind's retry policy allows; True when it did."""
    if job.attempts >= MAX_ATTEMPTS[retry]:
        return False
    log.warning("job_id=%s lost its worker (%s); trying again (%s)", job.id, exc.message, retry)
    await db.jobs.retry(job.id)
    return True


async def finish(db: Database, delivery: DeliveryRouter, job: Job, done: Completion) -> None:
    """Store, deliver, record the post, then mark done and charge (in one transaction)."""
    # The outcome is stored before it is shown: a crash after the delivery keeps it (the job is then
    # marked done at the next start, never posted twice).
    await db.jobs.record_result(job.id, dict(done.result))
    shown = delivery.serves(job.origin)  # else a job of this process nobody here shows: stored, not delivered
    if not shown:
        log.info("job_id=%s done; no port here shows origin %r: its outcome is stored only", job.id, job.origin)
    if done.deliverable is not None and shown:
        message_id = await delivery.delivered(route_of(job), done.deliverable)
        await db.jobs.mark_delivered(job.id, message_id)
        if message_id and done.posted_images:
            posted = db.posts.record(
                message_id, done.posted_images, done.post_role, channel_id=job.channel_id, guild_id=job.guild_id
            )
            await safely(posted)
    if done.extras and shown:
        ids = [await delivery.posted(route_of(job), extra) for extra in done.extras]
        if done.on_posted is not None:
            await safely(done.on_posted(ids))
    async with db.transaction():  # done and charged together
        await db.jobs.finish(job.id, dict(done.result))
        if done.charge:
            await db.usage.add(account_of(job), job.guild_id, done.charge)
    log.info("job_id=%s done kind=%s charge=%s", job.id, job.kind, done.charge)


async def close_if_delivered(db: Database, job: Job) -> bool:
    """After a failed completion: True when the job needs nothing more (already ended, or shown and now done)."""
    current = await db.jobs.get(job.id)
    if current is None or current.status != "running":
        return True
    if current.delivered:
        await db.jobs.finish(job.id, current.result or {})
        return True
    return False
