from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import Database, open_database


class FakeClock:
    """Starts at a fixed instant and moves one millisecond per reading, so rows order by time."""

    def __init__(self) -> None:
        self.current = datetime(2025, 3, 1, 23, 59, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "data" / "studio.db", clock=clock)
    try:
        yield database
    finally:
        await database.close()


async def make_image(db: Database, job_id: int, index: int = 0, **overrides: object):
    fields: dict[str, object] = {
        "sha256": f"{job_id:032x}{index:032x}",
        "size_bytes": 1234,
        "width": 512,
        "height": 512,
        "seed": 42 + index,
        "prompt": "a lighthouse",
        "model": "tiny-sd",
    }
    fields.update(overrides)
    return await db.images.add(job_id, index, f"/images/{job_id}/{index}.png", **fields)  # type: ignore[arg-type]
