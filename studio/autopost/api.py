"""What the Discord layer and the CLI may ask of auto-posts, and what they get back."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from studio.contract import Caller, JobTicket

MAX_PROMPT = 1000
MAX_CAPTION = 500


@dataclass(frozen=True)
class ScheduleOptions:
    """What `/autopost add` takes besides the channel and the schedule."""

    prompt: str
    model: str | None = None
    lora_scale: float | None = None
    count: int = 1
    lora_share: int = 100  # percent of posts made with the LoRA; the rest with its base model
    caption: str | None = None  # the message text: may use {prompt}, {model}, {date}
    name: str | None = None


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as `/autopost add` and `/autopost list` show it."""

    id: int
    name: str
    channel_id: int
    cron: str
    words: str  # the schedule in words
    timezone: str
    next_runs: tuple[datetime, ...]  # in the server's time zone
    prompt: str
    model: str | None
    lora_share: int
    count: int
    enabled: bool
    paused_reason: str | None
    last_run_at: datetime | None
    last_result: str | None


class AutopostApi(Protocol):
    """Scheduled posts (Manage Server). Refusals are StudioErrors that say what to do."""

    async def add(self, caller: Caller, channel_id: int, schedule: str, options: ScheduleOptions) -> ScheduleView: ...

    async def list(self, caller: Caller) -> list[ScheduleView]: ...

    async def remove(self, caller: Caller, schedule_id: int) -> ScheduleView: ...

    async def pause(self, caller: Caller, schedule_id: int) -> ScheduleView: ...

    async def resume(self, caller: Caller, schedule_id: int) -> ScheduleView: ...

    async def run(self, caller: Caller, schedule_id: int) -> tuple[ScheduleView, JobTicket]: ...

    async def preview(self, caller: Caller, schedule_id: int) -> JobTicket: ...

    async def set_timezone(self, caller: Caller, name: str) -> str: ...

    async def wildcard(self, caller: Caller, name: str, values: str) -> tuple[str, tuple[str, ...]]: ...

    async def timezones(self, current: str) -> builtins.list[str]: ...
