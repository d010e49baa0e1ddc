"""Drives the bot from the fake Discord: Discord-shaped interactions and gateway events, and queries on the result."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import discord

from tests.bot.fakediscord.interactions import InteractionEndpoints
from tests.bot.fakediscord.shapes import (
    APP_ID,
    BASIC_PERMISSIONS,
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    InteractionState,
    iso_time,
    snowflake,
)


class BotDriver(InteractionEndpoints):
    """Feeds the bot interactions and gateway events through discord.py's own parsers, and reads what came of them."""

    # -- driving the bot ------------------------------------------------------------------------------

    def attach(self, bot: discord.Client) -> None:
        self.bot = bot

    def _base(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user_id: int,
        permissions: int,
        roles: tuple[int, ...],
        message: dict[str, Any] | None,
        created_at: datetime | None = None,
    ) -> InteractionState:
        iid = snowflake(created_at)
        token = f"tok-{iid}"
        user = {"id": str(user_id), "username": f"user{user_id % 1000}", "discriminator": "0", "avatar": None}
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "guild_id": str(GUILD_ID),
            "guild": {"id": str(GUILD_ID), "locale": "en-US", "features": []},
            "channel_id": str(CHANNEL_ID),
            "channel": self._channel(CHANNEL_ID),
            "member": {
                "user": user,
                "roles": [str(r) for r in roles],
                "joined_at": iso_time(),
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": str(permissions),
            },
            "app_permissions": str(BASIC_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "attachment_size_limit": self.upload_limit,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0,
        }
        if message is not None:
            payload["message"] = self.public(message)
        state = InteractionState(iid, token, kind, payload, time.monotonic())
        self.interactions[token] = state
        return state

    def _dispatch(self, state: InteractionState, bot: discord.Client | None) -> InteractionState:
        target = bot or self.bot
        assert target is not None, "attach a bot first"
        state.dispatched_at = time.monotonic()
        target._connection.parse_interaction_create(state.payload)  # type: ignore[arg-type]
        return state

    # -- gateway events ---------------------------------------------------------------------------------

    def react(
        self,
        message: dict[str, Any] | int,
        emoji: str,
        *,
        user_id: int = USER_ID,
        add: bool = True,
        bot: discord.Client | None = None,
    ) -> None:
        """A member adds (or removes) a reaction: the gateway's MESSAGE_REACTION_ADD/REMOVE, through discord.py."""
        target = bot or self.bot
        assert target is not None, "attach a bot first"
        message_id = int(message["id"]) if isinstance(message, dict) else message
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(CHANNEL_ID),
            "message_id": str(message_id),
            "guild_id": str(GUILD_ID),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if add:
            data["member"] = {
                "user": {"id": str(user_id), "username": f"user{user_id % 1000}", "discriminator": "0", "avatar": None},
                "roles": [],
                "joined_at": iso_time(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
            data["message_author_id"] = str(APP_ID)
            target._connection.parse_message_reaction_add(data)  # type: ignore[arg-type]
        else:
            target._connection.parse_message_reaction_remove(data)  # type: ignore[arg-type]

    def _options(
        self,
        bot: discord.Client,
        name: str,
        values: dict[str, Any],
        focused: str | None,
        validate: bool,
        permissions: int = BASIC_PERMISSIONS,
    ):
        """The `data` of an application command: `name` may be "group sub"; attachments are attachment dicts."""
        group_name, _, sub = name.partition(" ")
        command = bot.tree.get_command(group_name)  # type: ignore[attr-defined]
        assert command is not None, f"/{group_name} is not registered"
        if sub:
            command = command.get_command(sub)  # type: ignore[union-attr]
            assert command is not None, f"/{name} is not registered"
        options = []
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            param = command.get_parameter(key)
            assert param is not None, f"/{name} has no option {key!r}"
            if param.type == discord.AppCommandOptionType.attachment:
                resolved.setdefault("attachments", {})[value["id"]] = value
                options.append({"name": key, "type": param.type.value, "value": value["id"]})
                continue
            if param.type == discord.AppCommandOptionType.channel and key != focused:
                # A channel option arrives as its id, with the channel (and the member's permissions in it) resolved.
                channel = {"id": str(value), "type": 0, "name": f"channel-{value}", "permissions": str(permissions)}
                resolved.setdefault("channels", {})[str(value)] = channel
                options.append({"name": key, "type": param.type.value, "value": str(value)})
                continue
            if validate and key != focused:
                # What Discord's own client refuses before the bot ever sees it.
                if param.choices and value not in [c.value for c in param.choices]:
                    raise ValueError(f"{value!r} is not a choice of {key}")
                low, high = param.min_value, param.max_value
                measured = len(value) if isinstance(value, str) else value
                if (low is not None and measured < low) or (high is not None and measured > high):
                    raise ValueError(f"{key}={value!r} is out of range {low}..{high}")
            option = {"name": key, "type": param.type.value, "value": value}
            if key == focused:
                option["focused"] = True
            options.append(option)
        for param in command.parameters:
            if validate and param.required and param.name not in values:
                raise ValueError(f"required option {param.name} missing")
        if sub:
            options = [{"name": sub, "type": 1, "options": options}]
        data: dict[str, Any] = {"id": str(snowflake()), "name": group_name, "type": 1, "options": options}
        if resolved:
            data["resolved"] = resolved
        return data

    def slash(
        self,
        name: str,
        /,
        *,
        bot: discord.Client | None = None,
        user_id: int = USER_ID,
        permissions: int = BASIC_PERMISSIONS,
        roles: tuple[int, ...] = (),
        validate: bool = True,
        **values: Any,
    ) -> InteractionState:
        """Dispatch an application command with these option values."""
        target = bot or self.bot
        assert target is not None
        data = self._options(target, name, values, None, validate, permissions)
        state = self._base(2, data, user_id=user_id, permissions=permissions, roles=roles, message=None)
        return self._dispatch(state, bot)

    def autocomplete(
        self, name: str, focused: str, /, *, bot: discord.Client | None = None, user_id: int = USER_ID, **values: Any
    ) -> InteractionState:
        """Dispatch an autocomplete interaction; `values[focused]` is what the user typed."""
        target = bot or self.bot
        assert target is not None
        data = self._options(target, name, values, focused, validate=False)
        state = self._base(4, data, user_id=user_id, permissions=BASIC_PERMISSIONS, roles=(), message=None)
        return self._dispatch(state, bot)

    def find_message_with(self, custom_id: str) -> dict[str, Any]:
        for message in reversed(list(self.messages.values())):
            for row in message.get("components", []):
                if any(c.get("custom_id") == custom_id for c in row.get("components", [])):
                    return message
        raise LookupError(f"no message shows a component {custom_id!r}")

    def click(
        self,
        custom_id: str,
        *,
        message: dict[str, Any] | None = None,
        bot: discord.Client | None = None,
        user_id: int = USER_ID,
        permissions: int = BASIC_PERMISSIONS,
    ) -> InteractionState:
        """Click the button `custom_id` on `message` (default: the newest message that shows it)."""
        message = message or self.find_message_with(custom_id)
        data = {"custom_id": custom_id, "component_type": 2}
        state = self._base(3, data, user_id=user_id, permissions=permissions, roles=(), message=message)
        return self._dispatch(state, bot)

    def select(
        self,
        custom_id: str,
        values: list[str],
        *,
        message: dict[str, Any] | None = None,
        bot: discord.Client | None = None,
        user_id: int = USER_ID,
    ) -> InteractionState:
        """Pick `values` in the string select menu `custom_id` (default: on the newest message that shows it)."""
        message = message or self.find_message_with(custom_id)
        menu = next(c for row in message["components"] for c in row["components"] if c.get("custom_id") == custom_id)
        offered = [option["value"] for option in menu["options"]]
        assert all(value in offered for value in values), f"{values} not among the options {offered}"
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        state = self._base(3, data, user_id=user_id, permissions=BASIC_PERMISSIONS, roles=(), message=message)
        return self._dispatch(state, bot)

    def submit_modal(
        self, opened_by: InteractionState, values: dict[str, str], *, bot: discord.Client | None = None
    ) -> InteractionState:
        """Submit the modal that `opened_by` answered with; `values` maps text input label → value."""
        assert opened_by.callback_type == 9, "that interaction did not open a modal"
        modal = opened_by.callback_data or {}
        rows = []
        for row in modal.get("components", []):
            inner = row.get("component") if row.get("type") == 18 else None
            children = [inner] if inner else row.get("components", [])
            for child in children:
                label = child.get("label") or row.get("label")
                rows.append(
                    {
                        "type": 1,
                        "components": [
                            {"type": 4, "custom_id": child["custom_id"], "value": values.get(label, child.get("value"))}
                        ],
                    }
                )
        data = {"custom_id": modal["custom_id"], "components": rows}
        user_id = int(opened_by.payload["member"]["user"]["id"])
        state = self._base(5, data, user_id=user_id, permissions=BASIC_PERMISSIONS, roles=(), message=None)
        return self._dispatch(state, bot)

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Poll `predicate` until it returns something truthy."""
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(LookupError, KeyError, IndexError):
                value = predicate()
                if value:
                    return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {getattr(predicate, '__name__', predicate)}")
            await asyncio.sleep(0.01)

    # -- queries ---------------------------------------------------------------------------------------

    def original(self, state: InteractionState) -> dict[str, Any]:
        """The interaction's original response message as it stands now."""
        if state.original_id is None:
            raise LookupError("the interaction has no original response yet")
        return self.messages[state.original_id]

    @staticmethod
    def original_id_of(state: InteractionState) -> int:
        assert state.original_id is not None
        return state.original_id

    def hanging(self) -> list[InteractionState]:
        """Interactions whose "thinking…" message was never replaced or removed."""
        return [
            s
            for s in self.interactions.values()
            if s.callback_type == 5 and s.original_id in self.messages and self.messages[s.original_id]["flags"] & 128
        ]

    def channel_messages(self) -> list[dict[str, Any]]:
        """Messages the bot posted through POST /channels/{id}/messages (not interaction responses)."""
        return [m for m in self.messages.values() if m.get("_via_channel")]
