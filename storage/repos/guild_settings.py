"""Per-guild settings, stored as a JSON object of the fields a guild changed."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from typing import Any

from storage._codec import json_to_db, ts_to_db
from storage.records import GuildSettings
from storage.repos._base import Repository

log = logging.getLogger(__name__)

FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(GuildSettings)}
DEFAULTS = GuildSettings()


def _int(name: str, value: Any, meta: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    low, high = meta.get("min"), meta.get("max")
    if high is None and low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}, not {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _sequence(name: str, value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a list, not {value!r}")
    return list(value)


def validate_setting(name: str, value: Any) -> Any:
    """Check one setting and return it normalised; ValueError says what is wrong."""
    spec = FIELDS.get(name)
    if spec is None:
        raise ValueError(f"unknown setting {name!r}; known settings: {', '.join(FIELDS)}")
    meta = spec.metadata
    kind = spec.type
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return value
    if kind == "int":
        return _int(name, value, meta)
    if kind == "tuple[int, ...]":
        ids = [_int(name, item, {"min": 1}) for item in _sequence(name, value)]
        return tuple(dict.fromkeys(ids))
    if kind == "tuple[str, ...]":
        words: list[str] = []
        for item in _sequence(name, value):
            if not isinstance(item, str):
                raise ValueError(f"{name} must hold text, not {item!r}")
            word = item.strip().lower()
            if not word:
                continue
            if len(word) > meta.get("max_len", 100):
                raise ValueError(f"each entry of {name} must be at most {meta.get('max_len', 100)} characters")
            words.append(word)
        words = list(dict.fromkeys(words))
        if len(words) > meta.get("max_items", 200):
            raise ValueError(f"{name} may hold at most {meta.get('max_items', 200)} entries")
        return tuple(words)
    if meta.get("timezone"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name} must be an IANA time zone such as Europe/Paris or UTC, not {value!r}") from None
        return str(value)
    if "choices" in meta:
        if value not in meta["choices"]:
            raise ValueError(f"{name} must be one of {', '.join(meta['choices'])}, not {value!r}")
        return value
    raise TypeError(f"no validator for setting {name} of type {kind}")  # a new field needs a rule here


class GuildSettingsRepository(Repository):
    async def _stored(self, guild_id: int) -> dict[str, Any]:
        row = await self._db.fetchone("SELECT data FROM guild_settings WHERE guild_id = ?", (guild_id,))
        return {} if row is None else json.loads(row["data"])

    async def get(self, guild_id: int | None) -> GuildSettings:
        """The guild's settings; defaults for fields it never changed (and for guild_id None)."""
        if guild_id is None:
            return DEFAULTS
        values: dict[str, Any] = {}
        for name, value in (await self._stored(guild_id)).items():
            try:
                values[name] = validate_setting(name, value)
            except ValueError:
                # A removed field or a tightened bound: fall back to the default rather than fail.
                log.warning("ignoring stored setting %s=%r of guild %s", name, value, guild_id)
        return dataclasses.replace(DEFAULTS, **values)

    async def update(self, guild_id: int, **fields: Any) -> GuildSettings:
        """Change some settings; every field is checked before anything is written."""
        checked = {name: validate_setting(name, value) for name, value in fields.items()}
        async with self._db.transaction():
            stored = await self._stored(guild_id)
            stored.update({name: list(v) if isinstance(v, tuple) else v for name, v in checked.items()})
            await self._write(guild_id, stored)
            return await self.get(guild_id)

    async def reset(self, guild_id: int, *names: str) -> GuildSettings:
        """Back to the defaults: the named fields, or all of them when none is named."""
        for name in names:
            if name not in FIELDS:
                raise ValueError(f"unknown setting {name!r}; known settings: {', '.join(FIELDS)}")
        async with self._db.transaction():
            stored = await self._stored(guild_id)
            for name in names or tuple(stored):
                stored.pop(name, None)
            await self._write(guild_id, stored)
            return await self.get(guild_id)

    async def _write(self, guild_id: int, data: dict[str, Any]) -> None:
        await self._db.execute(
            """INSERT INTO guild_settings (guild_id, data, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at""",
            (guild_id, json_to_db(data), ts_to_db(self._db.now())),
        )
