"""Numbered, append-only SQL migrations tracked with `PRAGMA user_version`.

Files live in `storage/migrations/NNNN_description.sql` and are applied in order, each in its own
transaction together with the version bump, so a crash leaves the database at a whole version.

A migration that rebuilds a table others reference starts with the line `-- migrate: foreign_keys=off`:
the runner then switches foreign keys off before its transaction (the pragma is a no-op inside one), so
dropping the old table neither cascades nor fails, runs `PRAGMA foreign_key_check` before the commit
(any dangling reference rolls the whole migration back), and switches them on again afterwards.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import aiosqlite

from storage.errors import MigrationError, SchemaTooNewError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
FOREIGN_KEYS_OFF = "-- migrate: foreign_keys=off"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def foreign_keys_off(self) -> bool:
        """Whether the migration declares (on its first line) that it runs with foreign keys off."""
        first = self.sql.lstrip().partition("\n")[0]
        return first.strip() == FOREIGN_KEYS_OFF


def load_migrations() -> tuple[Migration, ...]:
    """All packaged migrations, checked to be numbered 1, 2, 3 … without gaps."""
    folder = resources.files("storage") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} must be named NNNN_description.sql")
        found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered without gaps: expected {expected:04d}, got {migration.name}"
            )
    return tuple(found)


def latest_version() -> int:
    """The schema version this code writes."""
    return len(load_migrations())


async def current_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def apply_migrations(conn: aiosqlite.Connection, *, target: int | None = None, label: str = "database") -> int:
    """Bring the schema to `target` (default: latest); returns the version reached.

    Refuses a database newer than the code. Expects an autocommit connection (isolation_level=None).
    """
    migrations = load_migrations()
    latest = len(migrations)
    target = latest if target is None else target
    if not 0 <= target <= latest:
        raise MigrationError(f"no migration {target}: this code knows versions 0 to {latest}")
    version = await current_version(conn)
    if version > latest:
        raise SchemaTooNewError(
            f"{label} is at schema version {version}, but this bot only knows up to version {latest}. "
            "Run a newer bot version, or restore a backup made with this one."
        )
    for migration in migrations[version:target]:
        log.info("applying migration %s to %s", migration.name, label)
        try:
            if migration.foreign_keys_off:
                await _apply_without_foreign_keys(conn, migration)
            else:
                # executescript commits anything pending first, so the transaction is opened inside the script.
                await conn.executescript(_script(migration) + "COMMIT;\n")
        except Exception as exc:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise MigrationError(f"migration {migration.name} failed on {label}: {exc}") from exc
        version = migration.version
    return version


def _script(migration: Migration) -> str:
    """The migration and its version bump inside an open transaction (no COMMIT)."""
    return f"BEGIN IMMEDIATE;\n{migration.sql}\n;PRAGMA user_version = {migration.version};\n"


async def _apply_without_foreign_keys(conn: aiosqlite.Connection, migration: Migration) -> None:
    """Run a table-rebuilding migration with foreign keys off; commit only if every reference still holds."""
    async with conn.execute("PRAGMA foreign_keys") as cursor:
        row = await cursor.fetchone()
    was_on = bool(row and row[0])
    await conn.execute("PRAGMA foreign_keys = OFF")
    try:
        await conn.executescript(_script(migration))
        async with conn.execute("PRAGMA foreign_key_check") as cursor:
            broken = list(await cursor.fetchall())
        if broken:
            table, rowid, parent, _ = broken[0]
            raise MigrationError(
                f"{len(broken)} row(s) would reference missing rows, first {table} row {rowid} → {parent}"
            )
        await conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        if was_on:
            await conn.execute("PRAGMA foreign_keys = ON")
