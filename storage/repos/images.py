"""Images produced by jobs (the messages that show them are in `posts`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from storage._codec import json_from_db, json_to_db, loras_from_db, loras_to_db, ts_required, ts_to_db
from storage.records import ImageRecord
from storage.repos._base import Repository, integrity_error


def image_from_row(row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(
        id=row["id"],
        job_id=row["job_id"],
        index=row["idx"],
        path=Path(row["path"]),
        sha256=row["sha256"],
        size_bytes=row["size_bytes"],
        width=row["width"],
        height=row["height"],
        seed=row["seed"],
        prompt=row["prompt"],
        negative_prompt=row["negative_prompt"],
        model=row["model"],
        loras=loras_from_db(row["loras"]),
        params=json_from_db(row["params"]),
        created_at=ts_required(row["created_at"]),
    )


class ImageRepository(Repository):
    async def add(
        self,
        job_id: int,
        index: int,
        path: Path | str,
        *,
        sha256: str,
        size_bytes: int,
        width: int,
        height: int,
        seed: int,
        prompt: str,
        model: str,
        negative_prompt: str = "",
        loras: Iterable[tuple[str, float]] = (),
        params: dict[str, Any] | None = None,
    ) -> ImageRecord:
        """Record image `index` of a job. Raises DuplicateError for a repeated index, NotFoundError for no job."""
        try:
            _, image_id = await self._db.execute(
                """INSERT INTO images (job_id, idx, path, sha256, size_bytes, width, height, seed, prompt,
                                       negative_prompt, model, loras, params, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    job_id,
                    index,
                    str(path),
                    sha256,
                    size_bytes,
                    width,
                    height,
                    seed,
                    prompt,
                    negative_prompt,
                    model,
                    loras_to_db(loras),
                    json_to_db(params or {}),
                    ts_to_db(self._db.now()),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(
                exc, duplicate=f"job {job_id} already has an image {index}", missing=f"job {job_id} does not exist"
            ) from exc
        assert image_id is not None
        record = await self.get(image_id)
        assert record is not None
        return record

    async def get(self, image_id: int) -> ImageRecord | None:
        row = await self._db.fetchone("SELECT * FROM images WHERE id = ?", (image_id,))
        return None if row is None else image_from_row(row)

    async def for_job(self, job_id: int) -> list[ImageRecord]:
        rows = await self._db.fetchall("SELECT * FROM images WHERE job_id = ? ORDER BY idx", (job_id,))
        return [image_from_row(row) for row in rows]
