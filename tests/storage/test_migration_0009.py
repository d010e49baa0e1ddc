"""0009 rebuilds `jobs` with foreign keys off: every row and link survives, the schema equals a fresh one's, and a
migration whose references no longer hold is rolled back whole."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from storage import MigrationError, migrate, open_database
from storage.migrate import FOREIGN_KEYS_OFF, Migration, apply_migrations, load_migrations

NOW = "2026-01-01T00:00:00.000000+00:00"
JOB = (
    "INSERT INTO jobs (id, kind, status, request, requester_id, origin, lane, created_at)"
    " VALUES (?, 'generate', ?, '{}', 7, ?, ?, ?)"
)


def _build_at_8(path: Path) -> None:
    """A database at version 8 with a row in every table that names a job, directly or through an image."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in load_migrations()[:8]:
            conn.executescript(f"BEGIN;\n{migration.sql}\n;PRAGMA user_version = {migration.version};\nCOMMIT;")
        conn.execute("PRAGMA foreign_keys = ON")
        for job_id, status, origin, lane in [
            (1, "done", "interaction", "interactive"),
            (2, "queued", "cli", "batch"),
            (3, "done", "schedule", "interactive"),
            (4, "failed", "cli", "interactive"),
        ]:
            conn.execute(JOB, (job_id, status, origin, lane, NOW))
        conn.execute("DELETE FROM jobs WHERE id = 4")  # the counter stays at 4: id 4 must never come back
        for image_id, job_id in [(1, 1), (2, 1), (3, 3)]:
            conn.execute(
                "INSERT INTO images (id, job_id, idx, path, sha256, size_bytes, width, height, seed, prompt, model,"
                " created_at) VALUES (?, ?, ?, ?, 'x', 1, 8, 8, 1, ?, 'tiny-sd', ?)",
                (image_id, job_id, image_id, f"/img/{image_id}.png", f"a red fox number {image_id}", NOW),
            )
        conn.execute(
            "INSERT INTO job_files VALUES (1, '/img/1.png', 'output', ?), (2, '/up/s.png', 'source', ?)", (NOW, NOW)
        )
        conn.execute(
            "INSERT INTO posts (message_id, number, image_id, role, created_at) VALUES (9, 1, 1, 'grid', ?)", (NOW,)
        )
        conn.execute(
            "INSERT INTO training_sets (id, name, name_key, owner_id, created_at) VALUES (1, 'F', 'f', 7, ?)", (NOW,)
        )
        conn.execute(
            "INSERT INTO training_items (set_id, image_id, path, added_by, created_at) VALUES (1, 2, 'p', 7, ?)", (NOW,)
        )
        conn.execute(
            "INSERT INTO training_runs (set_id, set_name, output_name, base_model, plan, status, job_id, created_at)"
            " VALUES (1, 'Fox', 'fox-lora', 'sd15', '{}', 'started', 2, ?)",
            (NOW,),
        )
        conn.execute(
            "INSERT INTO schedules (id, name, name_key, channel_id, cron, prompt, created_by, created_at)"
            " VALUES (1, 'daily', 'daily', 5, '0 9 * * *', 'a fox', 7, ?)",
            (NOW,),
        )
        conn.execute("INSERT INTO schedule_slots VALUES (1, '2026-01-01T09:00', 3, ?)", (NOW,))
        conn.execute("INSERT INTO favourites VALUES (7, 3, ?)", (NOW,))
    finally:
        conn.close()


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every ordinary table (the FTS index's own tables aside), in a stable order."""
    conn = sqlite3.connect(path)
    try:
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'images_fts%'"
        names = [row[0] for row in conn.execute(query)]
        return {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in names}
    finally:
        conn.close()


def _schema(path: Path) -> list[tuple[str, str, str, str]]:
    """sqlite_master, whitespace normalised (a rebuilt table is written anew; the fresh one grew by ALTERs)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()
    return [(kind, name, table, re.sub(r"\s+", " ", sql or "")) for kind, name, table, sql in rows]


def test_0009_is_the_one_migration_that_runs_with_foreign_keys_off() -> None:
    flagged = [m.name for m in load_migrations() if m.foreign_keys_off]
    assert flagged == ["0009_web_origin.sql"]
    assert load_migrations()[8].sql.startswith(FOREIGN_KEYS_OFF)


async def test_every_row_and_link_survives_the_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    _build_at_8(path)
    before = _dump(path)
    db = await open_database(path)
    try:
        assert db.schema_version >= 9
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # on again after the migration
        web = await db.jobs.create("generate", {"prompt": "from the browser"}, 0, origin="web")
        assert web.id == 5 and web.origin == "web"  # the old counter carried over: 4 is not reused
        assert [j.origin for j in await db.jobs.list_active()] == ["cli", "web"]
    finally:
        await db.close()
    after = _dump(path)
    after["jobs"] = [row for row in after["jobs"] if row[0] != 5]
    assert after.pop("training_run_items", []) == []  # 0010's table: the run's plan held no items
    counters = [row if row[0] != "jobs" else ("jobs", 5) for row in before.pop("sqlite_sequence")]
    assert after.pop("sqlite_sequence") == counters
    assert after == before
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # The children still point at the new `jobs`: deleting a job cascades and nulls as declared.
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM jobs WHERE id IN (1, 2, 3)")
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM job_files").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM posts").fetchone()[0] == 0
        assert conn.execute("SELECT job_id FROM training_runs").fetchall() == [(None,)]
        assert conn.execute("SELECT job_id FROM schedule_slots").fetchall() == [(None,)]
        # A CHECK still refuses an origin nobody knows.
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(JOB, (9, "queued", "fax", "interactive", NOW))
    finally:
        conn.close()


async def test_the_migrated_schema_equals_a_fresh_one(tmp_path: Path) -> None:
    migrated, fresh = tmp_path / "old.db", tmp_path / "new.db"
    _build_at_8(migrated)
    for path in (migrated, fresh):
        await (await open_database(path)).close()
    assert _schema(migrated) == _schema(fresh)
    names = {row[1] for row in _schema(fresh) if row[2] == "jobs"}
    assert names == {"jobs", "jobs_requester", "jobs_status_lane"}


async def test_a_rebuild_leaving_a_dangling_reference_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "studio.db"
    _build_at_8(path)
    eight = load_migrations()[:8]
    # With foreign keys off, deleting a job cascades nowhere: its images would point at nothing.
    broken = Migration(9, "0009_broken.sql", f"{FOREIGN_KEYS_OFF}\nDELETE FROM jobs WHERE id = 1;")
    monkeypatch.setattr(migrate, "load_migrations", lambda: (*eight, broken))
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(MigrationError, match=r"0009_broken.*3 row\(s\) would reference missing rows"):
            await apply_migrations(conn)
        assert not conn.in_transaction
        async with conn.execute("PRAGMA foreign_keys") as cursor:
            assert (await cursor.fetchone())[0] == 1
        async with conn.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == 8
        async with conn.execute("SELECT COUNT(*) FROM jobs WHERE id = 1") as cursor:
            assert (await cursor.fetchone())[0] == 1
    finally:
        await conn.close()
