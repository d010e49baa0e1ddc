from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import SchemaTooNewError, latest_version, open_database
from storage.migrate import load_migrations


def _build_at(path: Path, version: int) -> None:
    """A database at `version`, made by applying the first migrations by hand, with a row per table."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in load_migrations()[:version]:
            conn.executescript(f"BEGIN;\n{migration.sql}\n;PRAGMA user_version = {migration.version};\nCOMMIT;")
        if version >= 1:
            now = "2025-01-01T00:00:00.000000+00:00"
            conn.execute(
                "INSERT INTO jobs (kind, request, requester_id, created_at) VALUES ('generate', ?, 7, ?)",
                ('{"prompt": "old"}', now),
            )
            conn.execute(
                "INSERT INTO models (name, display_name, kind, family, source, created_at)"
                " VALUES ('old-model', 'Old', 'base', 'sd15', '/models/old', ?)",
                (now,),
            )
    finally:
        conn.close()


def test_there_are_several_migrations_numbered_in_order() -> None:
    migrations = load_migrations()
    assert len(migrations) >= 2
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert latest_version() == len(migrations)


async def test_open_creates_an_empty_file_at_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "studio.db"
    db = await open_database(str(path))
    try:
        assert path.exists()
        assert db.schema_version == latest_version()
        mode = await db.fetchone("PRAGMA journal_mode")
        fks = await db.fetchone("PRAGMA foreign_keys")
        busy = await db.fetchone("PRAGMA busy_timeout")
        sync = await db.fetchone("PRAGMA synchronous")
        assert (mode[0], fks[0], busy[0], sync[0]) == ("wal", 1, 5000, 1)
    finally:
        await db.close()


@pytest.mark.parametrize("start", range(len(load_migrations())))
async def test_upgrade_from_every_earlier_version_keeps_rows(tmp_path: Path, start: int) -> None:
    path = tmp_path / "studio.db"
    _build_at(path, start)
    db = await open_database(path)
    try:
        assert db.schema_version == latest_version()
        if start >= 1:
            job = await db.jobs.get(1)
            assert job is not None
            assert job.request == {"prompt": "old"}
            assert job.status == "queued"
            model = await db.models.get("old-model")
            assert model is not None
            assert model.category == "image"  # the column 0002 added, filled by its default
        # The upgraded schema is usable for new writes.
        created = await db.jobs.create("generate", {"prompt": "new"}, 8)
        assert (await db.jobs.get(created.id)) == created
    finally:
        await db.close()
    # Reopening an up-to-date database applies nothing and changes nothing.
    again = await open_database(path)
    try:
        assert again.schema_version == latest_version()
        assert len(await again.jobs.list_for_user(8)) == 1
    finally:
        await again.close()


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    _build_at(path, latest_version())
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match=r"newer bot version|only knows up to version"):
        await open_database(path)


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import migrate

    real = migrate.load_migrations()
    broken = (*real, migrate.Migration(len(real) + 1, "9999_broken.sql", "CREATE TABLE t (x);\nSELECT * FROM nowhere;"))
    monkeypatch.setattr(migrate, "load_migrations", lambda: broken)
    path = tmp_path / "studio.db"
    with pytest.raises(migrate.MigrationError, match="9999_broken"):
        await open_database(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(real)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchone() is None
    finally:
        conn.close()


async def test_0003_records_the_files_and_messages_older_jobs_named(tmp_path: Path) -> None:
    """Files named in request JSON and image rows before 0003 move to job_files; images' messages to posts."""
    path = tmp_path / "studio.db"
    _build_at(path, 2)
    now = "2025-01-01T00:00:00.000000+00:00"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        edit = (
            '{"prompt": "e", "source_image": "/up/s.png", "mask_image": "/up/m.png",'
            ' "extra_files": ["/images/2/mask_overlay.png"]}'
        )
        conn.execute(
            "INSERT INTO jobs (id, kind, request, requester_id, guild_id, created_at) VALUES (2, 'edit', ?, 7, 5, ?)",
            (edit, now),
        )
        for idx in (0, 1):
            conn.execute(
                "INSERT INTO images (job_id, idx, path, sha256, size_bytes, width, height, seed, prompt, model,"
                " params, channel_id, message_id, created_at)"
                " VALUES (2, ?, ?, 'x', 1, 64, 64, 1, 'p', 'tiny-sd', ?, 70, 900, ?)",
                (idx, f"/images/2/{idx}.png", '{"grid": "/images/2/grid.png"}', now),
            )
    finally:
        conn.close()
    db = await open_database(path)
    try:
        files = {(str(f.path), f.role) for f in await db.job_files.for_job(2)}
        assert files == {
            ("/up/s.png", "source"),
            ("/up/m.png", "mask"),
            ("/images/2/mask_overlay.png", "overlay"),
            ("/images/2/0.png", "output"),
            ("/images/2/1.png", "output"),
            ("/images/2/grid.png", "grid"),
        }
        posts = await db.posts.for_message(900)
        images = await db.images.for_job(2)
        assert [(p.number, p.image_id, p.role, p.channel_id, p.guild_id) for p in posts] == [
            (1, images[0].id, "grid", 70, 5),
            (2, images[1].id, "grid", 70, 5),
        ]
        job = await db.jobs.get(2)
        assert (job.origin, job.lane) == ("interaction", "interactive")
    finally:
        await db.close()
