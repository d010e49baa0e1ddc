"""What the adapters may ask of a server's settings (/settings), and what they get back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from studio.contract import Caller


@dataclass(frozen=True)
class SettingView:
    """One guild setting as shown by /settings."""

    name: str
    value: str
    help: str


class GuildSettingsApi(Protocol):
    async def show(self, guild_id: int) -> list[SettingView]: ...

    async def update(self, caller: Caller, name: str, value: str) -> list[SettingView]: ...
