"""The model catalog kept in the database: base models and LoRAs users registered or trained."""

from __future__ import annotations

import builtins
import sqlite3
from typing import Any

from storage._codec import json_from_db, json_to_db, ts_required, ts_to_db
from storage.names import legacy_slug, name_key
from storage.records import ModelRecord
from storage.repos._base import Repository, check_slug, integrity_error

_KINDS = ("base", "lora")


def _model(row: sqlite3.Row) -> ModelRecord:
    return ModelRecord(
        id=row["id"],
        name=row["name"],
        display_name=row["display_name"],
        kind=row["kind"],
        family=row["family"],
        category=row["category"],
        source=row["source"],
        base_model=row["base_model"],
        trigger_word=row["trigger_word"],
        config=json_from_db(row["config"]),
        active=bool(row["active"]),
        created_by=row["created_by"],
        created_at=ts_required(row["created_at"]),
    )


class ModelRepository(Repository):
    async def add(
        self,
        name: str,
        display_name: str,
        kind: str,
        family: str,
        source: str,
        *,
        category: str = "image",
        base_model: str | None = None,
        trigger_word: str | None = None,
        config: dict[str, Any] | None = None,
        active: bool = True,
        created_by: int | None = None,
        key: str | None = None,
    ) -> ModelRecord:
        """Register a model under `name` (a path-safe slug) matched by `key` (default: the name's).

        A taken name or key raises DuplicateError (a ValueError).
        """
        check_slug(name, "model")
        if kind not in _KINDS:
            raise ValueError(f"model kind must be 'base' or 'lora', not {kind!r}")
        try:
            await self._db.execute(
                """INSERT INTO models (name, display_name, kind, family, category, source, base_model,
                                       trigger_word, config, active, created_by, created_at, name_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    name,
                    display_name,
                    kind,
                    family,
                    category,
                    source,
                    base_model,
                    trigger_word,
                    json_to_db(config or {}),
                    int(active),
                    created_by,
                    ts_to_db(self._db.now()),
                    name_key(key if key is not None else name),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise integrity_error(
                exc, duplicate=f"a model named {display_name!r} already exists: pick another name", missing=name
            ) from exc
        record = await self.get(name)
        assert record is not None
        return record

    async def get(self, name: str) -> ModelRecord | None:
        """The model stored under `name`, else the one whose key matches ("EXACTB" finds "exactB"), else a
        row stored before names were kept whose slug `name` makes."""
        row = await self._db.fetchone(
            """SELECT * FROM models WHERE name = ? OR name_key = ? OR name = ?
               ORDER BY name = ? DESC, name_key = ? DESC LIMIT 1""",
            (name, name_key(name), legacy_slug(name), name, name_key(name)),
        )
        return None if row is None else _model(row)

    async def list(
        self, kind: str | None = None, category: str | None = "image", active_only: bool = True
    ) -> builtins.list[ModelRecord]:
        """Models sorted by kind then name; None for kind or category means any."""
        sql = "SELECT * FROM models WHERE 1 = 1"
        params: builtins.list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        if active_only:
            sql += " AND active = 1"
        rows = await self._db.fetchall(sql + " ORDER BY kind, name", params)
        return [_model(row) for row in rows]

    async def set_config(self, name: str, config: dict[str, Any]) -> bool:
        """Replace a model's config (a trained LoRA's chosen checkpoint and scores); False when no such model."""
        changed, _ = await self._db.execute("UPDATE models SET config = ? WHERE name = ?", (json_to_db(config), name))
        return changed > 0

    async def set_active(self, name: str, active: bool) -> bool:
        """Show or hide a model; False when no model has that name."""
        changed, _ = await self._db.execute("UPDATE models SET active = ? WHERE name = ?", (int(active), name))
        return changed > 0

    async def delete(self, name: str) -> bool:
        changed, _ = await self._db.execute("DELETE FROM models WHERE name = ?", (name,))
        return changed > 0
