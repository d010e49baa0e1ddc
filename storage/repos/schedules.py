"""Recurring generations posted to a channel on a cron schedule."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage._codec import json_from_db, json_to_db, ts_from_db, ts_required, ts_to_db
from storage.errors import NotFoundError
from storage.names import check_name, name_key
from storage.records import Schedule
from storage.repos._base import Repository, check_slug, integrity_error

_UPDATABLE = (
    "name", "channel_id", "cron", "prompt", "model", "params", "enabled", "paused_reason", "home_channel_id",
    "last_result",
)  # fmt: skip


def _schedule(row: sqlite3.Row) -> Schedule:
    return Schedule(
        id=row["id"],
        name=row["name"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        cron=row["cron"],
        prompt=row["prompt"],
        model=row["model"],
        params=json_from_db(row["params"]),
        enabled=bool(row["enabled"]),
        created_by=row["created_by"],
        last_run_at=ts_from_db(row["last_run_at"]),
        created_at=ts_required(row["created_at"]),
        last_slot=ts_from_db(row["last_slot"]),
        paused_reason=row["paused_reason"],
        home_channel_id=row["home_channel_id"],
        last_result=row["last_result"],
    )


def _to_column(field: str, value: Any) -> Any:
    if field == "name":
        return check_name(value, "schedule name")
    if field == "params":
        if not isinstance(value, dict):
            raise ValueError("schedule params must be a dict")
        return json_to_db(value)
    if field == "enabled":
        return int(bool(value))
    return value


class ScheduleRepository(Repository):
    async def create(
        self,
        name: str,
        guild_id: int | None,
        channel_id: int,
        cron: str,
        prompt: str,
        created_by: int,
        *,
        model: str | None = None,
        params: dict[str, Any] | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """A new schedule; the name is kept as typed, unique per guild by its key. The caller checks the cron."""
        name = check_name(name, "schedule name")
        try:
            _, schedule_id = await self._db.execute(
                """INSERT INTO schedules (name, guild_id, channel_id, cron, prompt, model, params, enabled,
                                          created_by, created_at, name_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    name,
                    guild_id,
                    channel_id,
                    cron,
                    prompt,
                    model,
                    json_to_db(params or {}),
                    int(enabled),
                    created_by,
                    ts_to_db(self._db.now()),
                    name_key(name),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(
                exc, duplicate=f"a schedule named {name!r} already exists here: pick another name", missing=name
            ) from exc
        assert schedule_id is not None
        return await self._require(schedule_id)

    async def get(self, schedule_id: int) -> Schedule | None:
        row = await self._db.fetchone("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        return None if row is None else _schedule(row)

    async def _require(self, schedule_id: int) -> Schedule:
        schedule = await self.get(schedule_id)
        if schedule is None:
            raise NotFoundError(f"schedule {schedule_id} does not exist")
        return schedule

    async def list(self, guild_id: int | None = None, enabled_only: bool = False) -> builtins.list[Schedule]:
        """Schedules of one guild, or of all guilds when guild_id is None, by id."""
        sql = "SELECT * FROM schedules WHERE 1 = 1"
        params: builtins.list[Any] = []
        if guild_id is not None:
            sql += " AND guild_id = ?"
            params.append(guild_id)
        if enabled_only:
            sql += " AND enabled = 1"
        rows = await self._db.fetchall(sql + " ORDER BY id", params)
        return [_schedule(row) for row in rows]

    async def update(self, schedule_id: int, **fields: Any) -> Schedule:
        """Change some of: name, channel_id, cron, prompt, model, params, enabled."""
        unknown = sorted(set(fields) - set(_UPDATABLE))
        if unknown:
            raise ValueError(f"cannot update schedule field(s) {', '.join(unknown)}; allowed: {', '.join(_UPDATABLE)}")
        if not fields:
            return await self._require(schedule_id)
        names = [name for name in _UPDATABLE if name in fields]
        values = [_to_column(name, fields[name]) for name in names]
        if "name" in fields:  # the key follows the name
            names.append("name_key")
            values.append(name_key(values[names.index("name")]))
        assignments = ", ".join(f"{name} = ?" for name in names)
        try:
            changed, _ = await self._db.execute(
                f"UPDATE schedules SET {assignments} WHERE id = ?",  # noqa: S608 - column names are whitelisted
                (*values, schedule_id),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(
                exc, duplicate=f"a schedule named {fields.get('name')!r} already exists here", missing=""
            ) from exc
        if not changed:
            raise NotFoundError(f"schedule {schedule_id} does not exist")
        return await self._require(schedule_id)

    async def mark_run(self, schedule_id: int, at: datetime | None = None) -> None:
        """Record when the schedule last fired (default: now)."""
        changed, _ = await self._db.execute(
            "UPDATE schedules SET last_run_at = ? WHERE id = ?", (ts_to_db(at or self._db.now()), schedule_id)
        )
        if not changed:
            raise NotFoundError(f"schedule {schedule_id} does not exist")

    async def claim(self, schedule_id: int, slot: datetime) -> bool:
        """Claim `slot` for posting; False when it was claimed already (a duplicate wake-up, a restart)."""
        now = ts_to_db(self._db.now())
        async with self._db.transaction():
            inserted, _ = await self._db.execute(
                "INSERT OR IGNORE INTO schedule_slots (schedule_id, slot, claimed_at) VALUES (?, ?, ?)",
                (schedule_id, ts_to_db(slot), now),
            )
            if inserted:
                await self._db.execute(
                    """UPDATE schedules SET last_slot = ?, last_run_at = ?
                       WHERE id = ? AND (last_slot IS NULL OR last_slot < ?)""",
                    (ts_to_db(slot), now, schedule_id, ts_to_db(slot)),
                )
        return inserted > 0

    async def mark_skipped(self, schedule_id: int, newest: datetime, count: int) -> None:
        """Slots that passed while nothing could post them (the bot was down too long): not posted, not counted
        again."""
        await self._db.execute(
            """UPDATE schedules SET last_slot = ?, last_result = ?
               WHERE id = ? AND (last_slot IS NULL OR last_slot < ?)""",
            (ts_to_db(newest), f"skipped {count} slot(s): too late to post", schedule_id, ts_to_db(newest)),
        )

    async def slot_job(self, schedule_id: int, slot: datetime, job_id: int) -> None:
        await self._db.execute(
            "UPDATE schedule_slots SET job_id = ? WHERE schedule_id = ? AND slot = ?",
            (job_id, schedule_id, ts_to_db(slot)),
        )

    async def pause(self, schedule_id: int, reason: str) -> bool:
        """Pause an enabled schedule; False when it was paused already (so its server is told only once)."""
        changed, _ = await self._db.execute(
            "UPDATE schedules SET enabled = 0, paused_reason = ? WHERE id = ? AND enabled = 1", (reason, schedule_id)
        )
        return changed > 0

    async def record_run(self, schedule_id: int, moment: datetime, job_id: int) -> None:
        """A post made on demand (`/autopost run`): kept with the slots so a failed delivery finds its schedule,
        without moving the schedule's newest slot."""
        async with self._db.transaction():
            await self._db.execute(
                "INSERT OR IGNORE INTO schedule_slots (schedule_id, slot, job_id, claimed_at) VALUES (?, ?, ?, ?)",
                (schedule_id, ts_to_db(moment), job_id, ts_to_db(self._db.now())),
            )
            await self._db.execute(
                "UPDATE schedules SET last_run_at = ? WHERE id = ?", (ts_to_db(self._db.now()), schedule_id)
            )

    async def schedule_of_job(self, job_id: int) -> Schedule | None:
        row = await self._db.fetchone(
            "SELECT s.* FROM schedules s JOIN schedule_slots t ON t.schedule_id = s.id WHERE t.job_id = ?", (job_id,)
        )
        return None if row is None else _schedule(row)

    # -- wildcard lists, per guild -------------------------------------------------------------------

    async def set_wildcard(self, guild_id: int | None, name: str, items: Sequence[str]) -> None:
        check_slug(name, "wildcard")
        await self._db.execute(
            """INSERT INTO wildcards (guild_id, name, items, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (guild_id, name) DO UPDATE SET items = excluded.items, updated_at = excluded.updated_at""",
            (guild_id or 0, name, json_to_db(list(items)), ts_to_db(self._db.now())),
        )

    async def delete_wildcard(self, guild_id: int | None, name: str) -> bool:
        changed, _ = await self._db.execute(
            "DELETE FROM wildcards WHERE guild_id = ? AND name = ?", (guild_id or 0, name)
        )
        return changed > 0

    async def wildcards(self, guild_id: int | None) -> dict[str, builtins.list[str]]:
        rows = await self._db.fetchall(
            "SELECT name, items FROM wildcards WHERE guild_id = ? ORDER BY name", (guild_id or 0,)
        )
        return {row["name"]: json_from_db(row["items"]) for row in rows}

    async def delete(self, schedule_id: int) -> bool:
        changed, _ = await self._db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
        return changed > 0
