"""The files each job read or wrote, by role: what the deletion of a user's data removes from disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from storage._codec import ts_required, ts_to_db
from storage.records import JobFile
from storage.repos._base import Repository, integrity_error


def _file(row: sqlite3.Row) -> JobFile:
    return JobFile(
        job_id=row["job_id"], path=Path(row["path"]), role=row["role"], created_at=ts_required(row["created_at"])
    )


class JobFileRepository(Repository):
    async def add(self, job_id: int, files: Iterable[tuple[Path | str, str]]) -> int:
        """Record (path, role) pairs for a job; a path already recorded for it keeps its first role."""
        now = ts_to_db(self._db.now())
        added = 0
        try:
            async with self._db.transaction():
                for path, role in files:
                    if not role:
                        raise ValueError(f"a job file needs a role: {path}")
                    changed, _ = await self._db.execute(
                        "INSERT OR IGNORE INTO job_files (job_id, path, role, created_at) VALUES (?, ?, ?, ?)",
                        (job_id, str(path), role, now),
                    )
                    added += changed
        except sqlite3.IntegrityError as exc:
            raise integrity_error(exc, duplicate="", missing=f"job {job_id} does not exist") from exc
        return added

    async def for_job(self, job_id: int, role: str | None = None) -> list[JobFile]:
        sql = "SELECT * FROM job_files WHERE job_id = ?"
        params: tuple[object, ...] = (job_id,)
        if role is not None:
            sql += " AND role = ?"
            params += (role,)
        rows = await self._db.fetchall(sql + " ORDER BY rowid", params)  # in the order recorded
        return [_file(row) for row in rows]
