"""The database handle: one aiosqlite connection, migrations at open, repositories as attributes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from storage._codec import Clock, utc_now
from storage.migrate import apply_migrations
from storage.records import DeletionReport
from storage.repos.api_tokens import ApiTokenRepository
from storage.repos.collections import CollectionRepository, FavouriteRepository
from storage.repos.gallery import GalleryRepository
from storage.repos.guild_settings import GuildSettingsRepository
from storage.repos.images import ImageRepository
from storage.repos.job_files import JobFileRepository
from storage.repos.jobs import JobRepository
from storage.repos.models import ModelRepository
from storage.repos.posts import PostRepository
from storage.repos.reactions import ReactionRepository
from storage.repos.schedules import ScheduleRepository
from storage.repos.training import TrainingSetRepository
from storage.repos.training_runs import TrainingRunRepository
from storage.repos.usage import UsageRepository

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0
Params = Sequence[Any] | dict[str, Any]

# delete_user_data, spelled out: the images of the user's jobs, and the training items the user
# added, that sit in the user's sets, or that point at the user's images.
_USER_JOBS = "SELECT id FROM jobs WHERE requester_id = :user"
_USER_IMAGES = f"SELECT id FROM images WHERE job_id IN ({_USER_JOBS})"  # noqa: S608 - constant SQL
_USER_IMAGE_PATHS = f"SELECT path FROM images WHERE job_id IN ({_USER_JOBS}) ORDER BY id"  # noqa: S608
_USER_ITEMS = f"""
    added_by = :user
    OR set_id IN (SELECT id FROM training_sets WHERE owner_id = :user)
    OR image_id IN ({_USER_IMAGES})"""  # noqa: S608
_USER_ITEM_PATHS = f"SELECT path FROM training_items WHERE {_USER_ITEMS} ORDER BY id"  # noqa: S608
# Every other file the user's jobs read or wrote (uploads, masks, overlays, grids, checkpoints, ...).
# Uploads are named by content, so another user's job may name the same file: `_REMAINING_PATHS`,
# read after the deletion, says which must stay.
_USER_JOB_PATHS = f"SELECT path FROM job_files WHERE job_id IN ({_USER_JOBS}) ORDER BY created_at, path"  # noqa: S608
_REMAINING_PATHS = """
    SELECT path FROM job_files UNION SELECT path FROM images UNION SELECT path FROM training_items"""
# (table, statement), children first, so each count says what that statement removed rather than what
# cascaded. Every table with a column naming a user (USER_COLUMNS) must be here: a test checks it.
USER_COLUMNS = frozenset({"user_id", "requester_id", "owner_id", "added_by", "created_by"})
DELETE_USER_STEPS: tuple[tuple[str, str], ...] = (
    ("reactions", f"DELETE FROM reactions WHERE user_id = :user OR image_id IN ({_USER_IMAGES})"),  # noqa: S608
    ("posts", f"DELETE FROM posts WHERE image_id IN ({_USER_IMAGES})"),  # noqa: S608
    ("favourites", f"DELETE FROM favourites WHERE user_id = :user OR image_id IN ({_USER_IMAGES})"),  # noqa: S608
    (
        "collection_items",
        f"""DELETE FROM collection_items WHERE collection_id IN (SELECT id FROM collections WHERE owner_id = :user)
            OR image_id IN ({_USER_IMAGES})""",  # noqa: S608
    ),
    ("collections", "DELETE FROM collections WHERE owner_id = :user"),
    ("api_tokens", "DELETE FROM api_tokens WHERE user_id = :user"),
    ("training_items", f"DELETE FROM training_items WHERE {_USER_ITEMS}"),  # noqa: S608
    ("active_training_sets", "DELETE FROM active_training_sets WHERE user_id = :user"),
    ("training_sets", "DELETE FROM training_sets WHERE owner_id = :user"),
    (
        "schedule_slots",
        f"""DELETE FROM schedule_slots
            WHERE schedule_id IN (SELECT id FROM schedules WHERE created_by = :user) OR job_id IN ({_USER_JOBS})""",  # noqa: S608
    ),
    ("job_files", f"DELETE FROM job_files WHERE job_id IN ({_USER_JOBS})"),  # noqa: S608
    ("images", f"DELETE FROM images WHERE job_id IN ({_USER_JOBS})"),  # noqa: S608
    ("jobs", "DELETE FROM jobs WHERE requester_id = :user"),
    ("usage", "DELETE FROM usage WHERE user_id = :user"),
    ("schedules", "DELETE FROM schedules WHERE created_by = :user"),
    ("checkpoint_votes", "DELETE FROM checkpoint_votes WHERE user_id = :user"),
    # Training runs stay with the models they made (guild assets) but lose their requester.
    ("training_runs", "UPDATE training_runs SET requester_id = NULL WHERE requester_id = :user"),
    # Models the user created stay (they are guild assets) but lose their author.
    ("models", "UPDATE models SET created_by = NULL WHERE created_by = :user"),
)


class Database:
    """An open database. Build it with `open_database`; close it with `await db.close()`.

    One connection serves the whole bot, so every statement is serialised by a lock that the
    task holding a transaction re-enters: repository calls made inside `async with db.transaction()`
    join that transaction, and no other task's statement can land in the middle of it.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path, schema_version: int, clock: Clock) -> None:
        self._conn = conn
        self.path = path
        self.schema_version = schema_version
        self._clock = clock
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._in_tx = False
        self._closed = False
        self.jobs = JobRepository(self)
        self.images = ImageRepository(self)
        self.job_files = JobFileRepository(self)
        self.posts = PostRepository(self)
        self.models = ModelRepository(self)
        self.training_sets = TrainingSetRepository(self)
        self.reactions = ReactionRepository(self)
        self.schedules = ScheduleRepository(self)
        self.guild_settings = GuildSettingsRepository(self)
        self.usage = UsageRepository(self)
        self.training_runs = TrainingRunRepository(self)
        self.gallery = GalleryRepository(self)
        self.favourites = FavouriteRepository(self)
        self.collections = CollectionRepository(self)
        self.api_tokens = ApiTokenRepository(self)

    def now(self) -> datetime:
        """The current time (UTC, aware) from the clock the database was opened with."""
        return self._clock()

    # -- connection access -------------------------------------------------------------------

    @asynccontextmanager
    async def _hold(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._closed:
            raise RuntimeError("the database is closed")
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield self._conn
            return
        async with self._lock:
            self._owner = task
            try:
                yield self._conn
            finally:
                self._owner = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception. Nested use joins the outer one."""
        async with self._hold() as conn:
            if self._in_tx:
                yield conn
                return
            await conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                yield conn
            except BaseException:
                self._in_tx = False
                # Shielded: a cancelled task must still leave the connection outside a transaction.
                await asyncio.shield(conn.rollback())
                raise
            self._in_tx = False
            try:
                await asyncio.shield(conn.commit())
            except BaseException:
                if conn.in_transaction:
                    await asyncio.shield(conn.rollback())
                raise

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._hold() as conn, conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._hold() as conn, conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def execute(self, sql: str, params: Params = ()) -> tuple[int, int | None]:
        """Run one statement; returns (rowcount, lastrowid). Outside a transaction it autocommits."""
        async with self._hold() as conn, conn.execute(sql, params) as cursor:
            return cursor.rowcount, cursor.lastrowid

    async def close(self) -> None:
        """Wait for the running transaction, if any, then close the connection."""
        if self._closed:
            return
        async with self._hold() as conn:
            self._closed = True
            await conn.close()

    # -- privacy ---------------------------------------------------------------------------

    async def delete_user_data(self, user_id: int) -> DeletionReport:
        """Remove everything that belongs to `user_id`, in one transaction.

        Gone: the user's jobs with the files they recorded and their images (with anyone's reactions,
        stars and collection entries on those images, the posts that show them and any training item
        that points at them), the user's reactions, stars, collections, API tokens, training items the
        user added, training sets the user owns (with their items), usage rows and schedules the user
        created. Models the user created stay (they are
        guild assets) but lose their `created_by`. Other users' rows stay. The caller deletes the
        returned files from disk: the images, the training items, and every other file the user's
        jobs recorded in `job_files` that no remaining row names (two users who upload the same bytes
        share one content-named file).
        """
        params = {"user": user_id}
        counts: dict[str, int] = {}
        async with self.transaction():
            rows = await self.fetchall(_USER_IMAGE_PATHS, params)
            image_paths = _unique_paths(row["path"] for row in rows)
            rows = await self.fetchall(_USER_ITEM_PATHS, params)
            training_paths = tuple(p for p in _unique_paths(row["path"] for row in rows) if p not in image_paths)
            rows = await self.fetchall(_USER_JOB_PATHS, params)
            job_paths = _unique_paths(row["path"] for row in rows if isinstance(row["path"], str) and row["path"])
            for table, sql in DELETE_USER_STEPS:
                counts[table], _ = await self.execute(sql, params)
            still_used = {row["path"] for row in await self.fetchall(_REMAINING_PATHS)}
            listed = set(image_paths) | set(training_paths)
            job_paths = tuple(p for p in job_paths if str(p) not in still_used and p not in listed)
        log.info("deleted the data of user %s: %s", user_id, counts)
        return DeletionReport(
            user_id=user_id,
            counts=counts,
            image_paths=image_paths,
            training_paths=training_paths,
            job_paths=job_paths,
        )


def _unique_paths(paths: Iterable[str]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(Path(p) for p in paths))


async def open_database(path: Path | str, *, clock: Clock | None = None) -> Database:
    """Open (or create) the database at `path`, apply pending migrations and return it.

    `clock` returns the current aware UTC time; tests pass a fake one.
    Raises `SchemaTooNewError` when the file was written by a newer bot.
    """
    path = Path(path)
    in_memory = str(path) == ":memory:"
    if not in_memory:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        await conn.execute("PRAGMA synchronous = NORMAL")
        version = await apply_migrations(conn, label=str(path))
    except BaseException:
        await conn.close()
        raise
    log.info("opened database %s at schema version %d", path, version)
    return Database(conn, path, version, clock or utc_now)
