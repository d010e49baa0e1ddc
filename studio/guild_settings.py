"""/settings: show and change a guild's policy, parsing what a member types."""

from __future__ import annotations

import dataclasses
import re

from storage import Database
from storage.records import GuildSettings
from studio.contract import Caller
from studio.errors import Refused, StudioError
from studio.guild_settings_api import SettingView

HELP: dict[str, str] = {
    "allowed_role_ids": "roles allowed to make images (mentions or ids, comma-separated; empty = everyone)",
    "max_count": "most images per job (1-8)",
    "max_steps": "most sampling steps per job",
    "max_size": "longest image side in pixels",
    "max_concurrent_per_user": "jobs a member may have waiting or running at once",
    "daily_quota": "images per member per UTC day (0 = no limit)",
    "blocked_words": "words refused in prompts (comma-separated)",
    "nsfw_policy": "adult prompts: block, or spoiler the results",
    "serve_dms": "whether the bot makes images in DMs (true/false)",
    "min_training_images": "images a training set needs before it may be trained (1-500)",
    "training_uploads": "whether members may upload images to training sets (false: only images made here)",
    "trainer_role_ids": "roles allowed to train LoRAs besides Manage Server (mentions or ids; empty = managers only)",
    "autopost_min_minutes": "the shortest time between two runs of an auto-post schedule, in minutes",
    "timezone": "the IANA time zone auto-post schedules are read in, e.g. Europe/Paris",
}


def _show_value(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _parse(name: str, raw: str, current: object) -> object:
    text = raw.strip()
    if name.endswith("_role_ids"):
        if text.lower() in ("", "none", "everyone"):
            return ()
        ids = re.findall(r"\d{5,25}", text)
        if not ids:
            raise Refused("Give roles as mentions or ids, separated by commas, or 'everyone'.")
        return tuple(int(i) for i in ids)
    if name == "blocked_words":
        if text.lower() in ("", "none"):
            return ()
        return tuple(w.strip().lower() for w in text.split(",") if w.strip())
    if isinstance(current, bool):
        if text.lower() in ("true", "yes", "on", "1"):
            return True
        if text.lower() in ("false", "no", "off", "0"):
            return False
        raise Refused(f"{name} takes true or false.")
    if name == "timezone":
        return text  # IANA names are case-sensitive
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise Refused(f"{name} takes a whole number.") from None
    return text.lower()


class GuildSettingsService:
    """Implements `GuildSettingsApi`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def names() -> list[str]:
        return [f.name for f in dataclasses.fields(GuildSettings)]

    def _views(self, settings: GuildSettings) -> list[SettingView]:
        return [
            SettingView(f.name, _show_value(getattr(settings, f.name)), HELP.get(f.name, ""))
            for f in dataclasses.fields(settings)
        ]

    async def show(self, guild_id: int) -> list[SettingView]:
        return self._views(await self._db.guild_settings.get(guild_id))

    async def update(self, caller: Caller, name: str, value: str) -> list[SettingView]:
        if caller.guild_id is None:
            raise Refused("Settings belong to a server; use /settings in one.")
        if not caller.may_manage_server:
            raise Refused("Only members with Manage Server can change settings.")
        if name not in self.names():
            raise StudioError(f"Unknown setting {name!r}. Known: {', '.join(self.names())}.")
        current = await self._db.guild_settings.get(caller.guild_id)
        parsed = _parse(name, value, getattr(current, name))
        try:
            updated = await self._db.guild_settings.update(caller.guild_id, **{name: parsed})
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return self._views(updated)
