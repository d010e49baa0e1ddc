"""What the fake Discord holds (messages, interactions, the CDN, refusing channels) and the objects it describes."""

from __future__ import annotations

from typing import Any

import discord
from aiohttp import web

from tests.bot.fakediscord.shapes import (
    APP_ID,
    GUILD_ID,
    UPLOAD_LIMIT,
    USER_ID,
    InteractionState,
    Recorded,
    json_response,
)


class FakeState:
    """The fake's records, shared by its REST endpoints and by the driver that feeds the bot interactions."""

    def __init__(self, *, upload_limit: int = UPLOAD_LIMIT) -> None:
        self.upload_limit = upload_limit
        self.requests: list[Recorded] = []
        self.problems: list[str] = []  # every shape Discord would refuse
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted: set[int] = set()
        self.interactions: dict[str, InteractionState] = {}  # by token
        self.synced: dict[int | None, list[dict[str, Any]]] = {}
        self.bot: discord.Client | None = None
        self.cdn: dict[str, bytes] = {}  # attachment id → bytes, downloadable like Discord's CDN
        self.downloads: list[str] = []
        # Channels that refuse the bot's messages: id → (HTTP status, Discord error code, message), e.g. a deleted
        # channel (404, 10003, "Unknown Channel") or a lost permission (403, 50013, "Missing Permissions").
        self.refusing: dict[int, tuple[int, int, str]] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.user = {
            "id": str(APP_ID),
            "username": "studio",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "flags": 0,
        }

    def problem(self, text: str) -> web.Response:
        self.problems.append(text)
        return json_response({"code": 50035, "message": f"Invalid Form Body: {text}", "errors": {}}, status=400)

    # -- payloads -----------------------------------------------------------------------------------

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": "studio",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": {**self.user, "id": str(USER_ID), "username": "owner", "bot": False},
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "summary": "",
        }

    def _channel(self, channel_id: int) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "studio",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }
