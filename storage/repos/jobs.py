"""Jobs: the persistent queue, its fair order, and the job life cycle."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage._codec import json_from_db, json_to_db, ts_from_db, ts_required, ts_to_db
from storage.errors import JobStateError, NotFoundError
from storage.records import Job, RecoveryReport
from storage.repos._base import Repository

log = logging.getLogger(__name__)

# Round-robin between users: a user's n-th waiting job (counted in their own priority/age order)
# goes after every other user's (n-1)-th; priority beats turns, and age breaks ties. Jobs a user
# has had started since the oldest waiting job arrived count as turns already taken, so a user who
# was just served waits behind someone who was not.
_FAIR_ORDER = """
    SELECT * FROM (
        SELECT jobs.*,
               ROW_NUMBER() OVER (PARTITION BY requester_id ORDER BY priority DESC, created_at, id)
               + (SELECT COUNT(*) FROM jobs AS served
                  WHERE served.requester_id = jobs.requester_id AND served.lane = jobs.lane
                    AND served.started_at IS NOT NULL
                    AND served.started_at >= (SELECT MIN(created_at) FROM jobs AS w
                                              WHERE w.status = 'queued' AND w.lane = jobs.lane))
               AS turn
        FROM jobs WHERE status = 'queued' AND lane = :lane
    )
    ORDER BY priority DESC, turn, created_at, id
"""
LANES: tuple[str, ...] = ("interactive", "batch")
RETRY_POLICIES: tuple[str, ...] = ("requeue", "fail", "resume")


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        request=json_from_db(row["request"]),
        requester_id=row["requester_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        interaction_token=row["interaction_token"],
        origin=row["origin"],
        lane=row["lane"],
        token_expires_at=ts_from_db(row["token_expires_at"]),
        priority=row["priority"],
        attempts=row["attempts"],
        error=row["error"],
        result=json_from_db(row["result"]),
        delivered=bool(row["delivered"]),
        created_at=ts_required(row["created_at"]),
        started_at=ts_from_db(row["started_at"]),
        finished_at=ts_from_db(row["finished_at"]),
    )


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


class JobRepository(Repository):
    async def create(
        self,
        kind: str,
        request: dict[str, Any],
        requester_id: int,
        guild_id: int | None = None,
        channel_id: int | None = None,
        priority: int = 0,
        interaction_token: str | None = None,
        token_expires_at: datetime | None = None,
        *,
        origin: str = "interaction",
        lane: str = "interactive",
    ) -> Job:
        """Add a queued job."""
        if not kind:
            raise ValueError("a job needs a kind")
        if lane not in LANES:
            raise ValueError(f"lane must be one of {LANES}, got {lane!r}")
        _, job_id = await self._db.execute(
            """INSERT INTO jobs (kind, status, request, requester_id, guild_id, channel_id, priority,
                                 interaction_token, token_expires_at, origin, lane, created_at)
               VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                kind,
                json_to_db(request),
                requester_id,
                guild_id,
                channel_id,
                int(priority),
                interaction_token,
                ts_to_db(token_expires_at),
                origin,
                lane,
                ts_to_db(self._db.now()),
            ),
        )
        assert job_id is not None
        return await self._require(job_id)

    async def get(self, job_id: int) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    async def _require(self, job_id: int) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        return job

    async def fair_queue(self, lane: str | None = None) -> list[Job]:
        """Queued jobs of a lane in the order they should run; every lane, interactive first, for None."""
        lanes = LANES if lane is None else (lane,)
        jobs: list[Job] = []
        for each in lanes:
            jobs += [_job(row) for row in await self._db.fetchall(_FAIR_ORDER, {"lane": each})]
        return jobs

    async def next_fair(self, lane: str = "interactive") -> Job | None:
        row = await self._db.fetchone(_FAIR_ORDER + " LIMIT 1", {"lane": lane})
        return None if row is None else _job(row)

    async def position(self, job_id: int) -> int | None:
        """0-based place in its lane's fair order, or None when the job is not queued."""
        job = await self.get(job_id)
        if job is None or job.status != "queued":
            return None
        rows = await self._db.fetchall(f"SELECT id FROM ({_FAIR_ORDER})", {"lane": job.lane})  # noqa: S608
        for index, row in enumerate(rows):
            if row["id"] == job_id:
                return index
        return None

    async def _transition(self, job_id: int, sql: str, params: tuple[Any, ...], allowed: tuple[str, ...]) -> Job:
        async with self._db.transaction():
            changed, _ = await self._db.execute(sql, params)
            job = await self._require(job_id)
            if not changed:
                raise JobStateError(f"job {job_id} is {job.status}; expected {' or '.join(allowed)}")
        return job

    async def start(self, job_id: int) -> Job:
        """queued → running; counts an attempt. Raises JobStateError from any other state."""
        return await self._transition(
            job_id,
            """UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, finished_at = NULL
               WHERE id = ? AND status = 'queued'""",
            (ts_to_db(self._db.now()), job_id),
            ("queued",),
        )

    async def requeue(self, job_id: int) -> Job:
        """running → queued after a clean shutdown stopped it; that attempt does not count."""
        return await self._transition(
            job_id,
            """UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), started_at = NULL
               WHERE id = ? AND status = 'running'""",
            (job_id,),
            ("running",),
        )

    async def retry(self, job_id: int) -> Job:
        """running → queued after its worker died; unlike `requeue`, that attempt counts."""
        return await self._transition(
            job_id,
            "UPDATE jobs SET status = 'queued', started_at = NULL WHERE id = ? AND status = 'running'",
            (job_id,),
            ("running",),
        )

    async def rehome(self, job_id: int, origin: str) -> Job:
        """A queued job shown by another front door from now on (a leftover resumed there); its interaction token,
        useless to that door, is dropped. Raises JobStateError unless queued."""
        return await self._transition(
            job_id,
            """UPDATE jobs SET origin = ?, interaction_token = NULL, token_expires_at = NULL
               WHERE id = ? AND status = 'queued'""",
            (origin, job_id),
            ("queued",),
        )

    async def record_result(self, job_id: int, result: dict[str, Any]) -> None:
        """Store a running job's outcome before it is shown (a crash then keeps it; `finish` ends the job)."""
        changed, _ = await self._db.execute(
            "UPDATE jobs SET result = ? WHERE id = ? AND status = 'running'", (json_to_db(result), job_id)
        )
        if not changed:
            raise JobStateError(f"job {job_id} is not running")

    async def finish(self, job_id: int, result: dict[str, Any]) -> Job:
        """running → done with its result."""
        return await self._transition(
            job_id,
            """UPDATE jobs SET status = 'done', result = ?, error = NULL, finished_at = ?
               WHERE id = ? AND status = 'running'""",
            (json_to_db(result), ts_to_db(self._db.now()), job_id),
            ("running",),
        )

    async def fail(self, job_id: int, error: str) -> Job:
        """queued or running → failed with a reason."""
        return await self._transition(
            job_id,
            """UPDATE jobs SET status = 'failed', error = ?, finished_at = ?
               WHERE id = ? AND status IN ('queued', 'running')""",
            (error, ts_to_db(self._db.now()), job_id),
            ("queued", "running"),
        )

    async def cancel(self, job_id: int) -> bool:
        """queued or running → cancelled; False when the job is missing or already over."""
        changed, _ = await self._db.execute(
            """UPDATE jobs SET status = 'cancelled', finished_at = ?
               WHERE id = ? AND status IN ('queued', 'running')""",
            (ts_to_db(self._db.now()), job_id),
        )
        return changed > 0

    async def mark_delivered(self, job_id: int, message_id: int | None = None) -> None:
        """Record that the result reached the user (so a restart never delivers it twice)."""
        changed, _ = await self._db.execute(
            "UPDATE jobs SET delivered = 1, message_id = COALESCE(?, message_id) WHERE id = ?",
            (message_id, job_id),
        )
        if not changed:
            raise NotFoundError(f"job {job_id} does not exist")

    async def set_message(self, job_id: int, channel_id: int | None, message_id: int | None) -> None:
        """Remember the status/result message of a job."""
        changed, _ = await self._db.execute(
            "UPDATE jobs SET channel_id = ?, message_id = ? WHERE id = ?", (channel_id, message_id, job_id)
        )
        if not changed:
            raise NotFoundError(f"job {job_id} does not exist")

    async def list_running(self) -> list[Job]:
        rows = await self._db.fetchall("SELECT * FROM jobs WHERE status = 'running' ORDER BY started_at, id")
        return [_job(row) for row in rows]

    async def list_active(self, origin: str | None = None) -> list[Job]:
        """Queued and running jobs, oldest first; of one origin ("cli", "interaction", ...) when given."""
        sql = "SELECT * FROM jobs WHERE status IN ('queued', 'running')"
        params: tuple[Any, ...] = ()
        if origin is not None:
            sql += " AND origin = ?"
            params = (origin,)
        rows = await self._db.fetchall(sql + " ORDER BY created_at, id", params)
        return [_job(row) for row in rows]

    async def count_active(self, requester_id: int, guild_id: int | None = None) -> int:
        """Queued + running jobs of a user; in one guild, or everywhere when guild_id is None."""
        sql = "SELECT COUNT(*) FROM jobs WHERE requester_id = ? AND status IN ('queued', 'running')"
        params: tuple[Any, ...] = (requester_id,)
        if guild_id is not None:
            sql += " AND guild_id = ?"
            params += (guild_id,)
        row = await self._db.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def list_for_user(self, user_id: int, limit: int = 20, before_id: int | None = None) -> list[Job]:
        """A user's jobs, newest first; `before_id` pages on: only jobs with a smaller id."""
        below = before_id if before_id is not None else -1  # -1: no bound
        sql = "SELECT * FROM jobs WHERE requester_id = ? AND (? < 0 OR id < ?) ORDER BY id DESC LIMIT ?"
        params = (user_id, below, below, limit)
        return [_job(row) for row in await self._db.fetchall(sql, params)]

    async def recover_stale(
        self, policies: Mapping[str, str] | None = None, *, max_attempts: int = 2, max_resumes: int = 5
    ) -> RecoveryReport:
        """At start: deal with the jobs a crash left 'running', by their kind's retry policy.

        A delivered job is marked done. Otherwise `requeue` (the default) puts the job back in the
        queue until it had `max_attempts` attempts, `resume` until `max_resumes` (its kind resumes from
        its last checkpoint), and `fail` fails it at once (nobody waits for its answer any more).
        """
        policies = policies or {}
        now = ts_to_db(self._db.now())
        requeued: list[int] = []
        failed: list[int] = []
        completed: list[int] = []
        async with self._db.transaction():
            rows = await self._db.fetchall("SELECT id, kind, attempts, delivered FROM jobs WHERE status = 'running'")
            for row in rows:
                job_id, attempts = row["id"], row["attempts"]
                policy = policies.get(row["kind"], "requeue")
                if policy not in RETRY_POLICIES:
                    raise ValueError(f"unknown retry policy {policy!r} for kind {row['kind']!r}")
                limit = max_resumes if policy == "resume" else max_attempts
                if row["delivered"]:
                    await self._db.execute(
                        "UPDATE jobs SET status = 'done', finished_at = COALESCE(finished_at, ?) WHERE id = ?",
                        (now, job_id),
                    )
                    completed.append(job_id)
                elif policy != "fail" and attempts < limit:
                    await self._db.execute(
                        "UPDATE jobs SET status = 'queued', started_at = NULL WHERE id = ?", (job_id,)
                    )
                    requeued.append(job_id)
                else:
                    reason = f"interrupted {_times(attempts)} by a restart"
                    await self._db.execute(
                        "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                        (reason, now, job_id),
                    )
                    failed.append(job_id)
        if rows:
            log.info("recovered stale jobs: requeued=%s failed=%s completed=%s", requeued, failed, completed)
        return RecoveryReport(requeued=tuple(requeued), failed=tuple(failed), completed=tuple(completed))
