"""The gallery's tables: the prompt index (FTS5, trigram) kept in step with images, and migration 0008 on old data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage import Database, ImageQuery, Sight, latest_version, open_database
from storage.migrate import load_migrations

from .conftest import make_image

ME, OTHER = 1, 2
OWNER = Sight(user_id=0, everything=True)


def test_this_sqlite_has_fts5_with_the_trigram_tokenizer() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'trigram')")
        conn.execute("INSERT INTO t (x) VALUES ('A Lighthouse at dusk')")
        assert conn.execute("SELECT rowid FROM t WHERE t MATCH '\"GHTHO\"'").fetchall() == [(1,)]
    finally:
        conn.close()


async def _ids(db: Database, match: str, sight: Sight = OWNER) -> list[int]:
    return [g.image.id for g in await db.gallery.search(sight, ImageQuery(scope="server", match=match))]


async def test_the_prompt_index_follows_inserts_updates_and_deletes(db: Database) -> None:
    job = await db.jobs.create("generate", {"prompt": "x"}, ME, guild_id=7)
    a = await make_image(db, job.id, 0, prompt="a red lighthouse")
    b = await make_image(db, job.id, 1, prompt="a blue boat")
    assert await _ids(db, '"lighthouse"') == [a.id]
    assert await _ids(db, '"LUE BO"') == [b.id]  # any substring of 3+ characters, any case
    await db.execute("UPDATE images SET prompt = 'a green lighthouse' WHERE id = ?", (b.id,))
    assert await _ids(db, '"lighthouse"') == [b.id, a.id]
    assert await _ids(db, '"boat"') == []
    await db.gallery.delete_images([a.id])
    assert await _ids(db, '"lighthouse"') == [b.id]
    integrity = await db.fetchone("INSERT INTO images_fts (images_fts, rank) VALUES ('integrity-check', 1)")
    assert integrity is None


def _database_at_7_with_images(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in load_migrations()[:7]:
            conn.executescript(f"BEGIN;\n{migration.sql}\n;PRAGMA user_version = {migration.version};\nCOMMIT;")
        now = "2025-01-01T00:00:00.000000+00:00"
        conn.execute(
            "INSERT INTO jobs (kind, request, requester_id, guild_id, created_at) VALUES ('generate', ?, 7, 70, ?)",
            ('{"prompt": "old", "spoiler": true}', now),
        )
        for idx, prompt in enumerate(['an "old" castle (at night)', "café crème"]):
            conn.execute(
                """INSERT INTO images (job_id, idx, path, sha256, size_bytes, width, height, seed, prompt, model,
                                       created_at)
                   VALUES (1, ?, ?, 'ab', 10, 64, 64, 1, ?, 'tiny', ?)""",
                (idx, f"/images/1/{idx}.png", prompt, now),
            )
        conn.execute(
            "INSERT INTO posts (message_id, number, image_id, role, channel_id, guild_id, created_at)"
            " VALUES (900, 1, 1, 'single', 71, 70, ?)",
            (now,),
        )
    finally:
        conn.close()


async def test_migration_8_indexes_the_prompts_already_stored_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    _database_at_7_with_images(path)
    db = await open_database(path)
    try:
        assert db.schema_version == latest_version()  # 8 and every later one
        assert await _ids(db, '"castle"') == [1]
        assert await _ids(db, '"CAFÉ"') == [2]
        assert await _ids(db, '"""old"""') == [1]
        found = (await db.gallery.search(OWNER, ImageQuery(scope="server")))[-1]
        assert (found.image.prompt, found.requester_id, found.guild_id) == ('an "old" castle (at night)', 7, 70)
        assert found.spoiler and found.posted
        assert [p.image_id for p in await db.posts.for_message(900)] == [1]
        # A member of server 70 who may view channel 71 sees the posted image, not the unposted one.
        member = Sight(user_id=8, guild_id=70, channel_ids=frozenset({71}), others_spoilered=True)
        assert [g.image.id for g in await db.gallery.search(member, ImageQuery(scope="server"))] == [1]
        # New images are indexed by the triggers.
        job = await db.jobs.create("generate", {}, 7)
        new = await make_image(db, job.id, 0, prompt="a new castle")
        assert await _ids(db, '"castle"') == [new.id, 1]
    finally:
        await db.close()


async def test_deleting_images_detaches_training_items_and_lists_the_files_to_remove(db: Database) -> None:
    job = await db.jobs.create("generate", {}, ME, guild_id=7)
    a = await make_image(db, job.id, 0)
    b = await make_image(db, job.id, 1)
    await db.job_files.add(job.id, [(a.path, "output"), (b.path, "output"), ("/images/1/grid.png", "grid")])
    their_set = await db.training_sets.create("theirs", 7, OTHER)
    item = await db.training_sets.add_item(their_set.id, "/sets/theirs/a.png", added_by=OTHER, image_id=a.id)
    await db.favourites.add(OTHER, a.id)
    assert await db.gallery.delete_images([a.id]) == (a.path,)
    kept = await db.training_sets.item(item.id)
    assert kept is not None and kept.image_id is None and kept.path == Path("/sets/theirs/a.png")
    assert await db.fetchone("SELECT 1 FROM favourites") is None
    # The job's last image takes its grid with it.
    assert await db.gallery.delete_images([b.id]) == (b.path, Path("/images/1/grid.png"))
    assert await db.job_files.for_job(job.id) == []
    assert await db.fetchall("PRAGMA foreign_key_check") == []


async def test_tokens_are_found_by_digest_and_revoked_by_their_owner_only(db: Database) -> None:
    mine = await db.api_tokens.add(ME, 7, "script", "d" * 64)
    assert mine.last_used_at is None
    used = await db.api_tokens.use("d" * 64)
    assert used is not None and used.id == mine.id and used.last_used_at is not None
    assert await db.api_tokens.use("e" * 64) is None
    assert not await db.api_tokens.revoke(OTHER, mine.id)
    assert await db.api_tokens.revoke(ME, mine.id)
    assert await db.api_tokens.use("d" * 64) is None
