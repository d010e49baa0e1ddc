"""A small local fake of Discord's REST API, and a driver that feeds Discord-shaped interactions to a bot.

The bot logs in against it with its real HTTP client (`discord.http.Route.BASE` points here), so
every request discord.py builds (JSON or multipart) is parsed, recorded and checked against the
limits Discord enforces. Interactions are dispatched through `ConnectionState.parse_interaction_create`,
so the real CommandTree, DynamicItem and Modal machinery runs.
"""

from tests.bot.fakediscord.server import FakeDiscord
from tests.bot.fakediscord.shapes import (
    API_PREFIX,
    APP_ID,
    BASIC_PERMISSIONS,
    CALLBACK_DEADLINE_S,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    UPLOAD_LIMIT,
    USER_ID,
    InteractionState,
    Recorded,
    snowflake,
)

__all__ = [
    "API_PREFIX",
    "APP_ID",
    "BASIC_PERMISSIONS",
    "CALLBACK_DEADLINE_S",
    "CHANNEL_ID",
    "GUILD_ID",
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "UPLOAD_LIMIT",
    "USER_ID",
    "FakeDiscord",
    "InteractionState",
    "Recorded",
    "snowflake",
]
