"""The fake Discord's ids and limits, its JSON answers, and the records it keeps of requests and interactions."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API_PREFIX = "/api/v10"
APP_ID = 700000000000000001
GUILD_ID = 710000000000000001
CHANNEL_ID = 720000000000000001
USER_ID = 730000000000000001
UPLOAD_LIMIT = 10 * 1024 * 1024
CALLBACK_DEADLINE_S = 3.0

# Permission bits used by tests.
MANAGE_MESSAGES = 1 << 13
MANAGE_GUILD = 1 << 5
BASIC_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 15) | (1 << 31)  # view, send, attach, use app commands

_increment = itertools.count(1)


def snowflake(at: datetime | None = None) -> int:
    """A Discord id: its creation time in the high bits (discord.py derives `created_at` from it)."""
    ms = int(((at or datetime.now(UTC)).timestamp() - 1420070400) * 1000)  # Discord's epoch, 2015
    return (ms << 22) | (next(_increment) % (1 << 22))


def json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py decodes a body only when Content-Type is exactly application/json, as Discord sends it.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def iso_time(ts: datetime | None = None) -> str:
    return (ts or datetime.now(UTC)).isoformat()


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[tuple[str, int]]  # (filename, size)


@dataclass
class InteractionState:
    """What happened to one dispatched interaction."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    dispatched_at: float
    callback_type: int | None = None
    callback_at: float | None = None
    callback_data: dict[str, Any] | None = None
    original_id: int | None = None
    deleted_original: bool = False
    followups: list[int] = field(default_factory=list)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete answer (callback type 8)."""
        if self.callback_type != 8 or self.callback_data is None:
            return None
        return self.callback_data.get("choices", [])
