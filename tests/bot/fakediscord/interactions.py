"""The fake Discord's interaction endpoints: command sync, interaction callbacks, webhook messages and followups."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tests.bot.fakediscord.messages import MessageStore
from tests.bot.fakediscord.shapes import (
    APP_ID,
    CALLBACK_DEADLINE_S,
    CHANNEL_ID,
    InteractionState,
    json_response,
    snowflake,
)


class InteractionEndpoints(MessageStore):
    """The REST side of interactions: what the bot answers to the interactions the driver dispatched."""

    # -- interactions ---------------------------------------------------------------------------------

    def _sync(self, guild_id: int | None, body: Any) -> web.Response:
        commands = body or []
        if len(commands) > 100:
            return self.problem("more than 100 commands")
        for command in commands:
            if not 1 <= len(command.get("name", "")) <= 32 or len(command.get("description", "")) > 100:
                return self.problem(f"bad command name/description: {command.get('name')!r}")
            options = command.get("options", [])
            if len(options) > 25:
                return self.problem(f"/{command['name']} has more than 25 options")
            required_done = False
            for option in options:
                if len(option.get("choices", [])) > 25:
                    return self.problem(f"/{command['name']} {option['name']}: more than 25 choices")
                if option.get("required") and required_done:
                    return self.problem(f"/{command['name']}: a required option after an optional one")
                required_done = required_done or not option.get("required", False)
        # Discord answers every command with a description; context menus get an empty one.
        self.synced[guild_id] = [
            {"description": "", **c, "id": str(snowflake()), "application_id": str(APP_ID)} for c in commands
        ]
        return json_response(self.synced[guild_id])

    def _state_for(self, token: str) -> InteractionState:
        if token not in self.interactions:
            raise KeyError("Webhook")
        return self.interactions[token]

    def _callback(self, interaction_id: int, token: str, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        state = self.interactions.get(token)
        if state is None or state.id != interaction_id:
            return json_response({"code": 10062, "message": "Unknown interaction"}, status=404)
        now = time.monotonic()
        if state.callback_type is not None:
            return json_response({"code": 40060, "message": "Interaction has already been acknowledged."}, 400)
        if now - state.dispatched_at > CALLBACK_DEADLINE_S:
            self.problems.append(f"interaction {interaction_id} answered after {now - state.dispatched_at:.1f} s")
            return json_response({"code": 10062, "message": "Unknown interaction"}, status=404)
        kind = body["type"]
        data = body.get("data") or {}
        state.callback_type, state.callback_at, state.callback_data = kind, now, data
        ephemeral = bool(data.get("flags", 0) & 64)
        message: dict[str, Any] | None = None
        if kind in (4, 5):
            if kind == 4:
                error = self._validate_message(data, files, "interaction response")
                if error:
                    return self.problem(error)
            flags = (64 if ephemeral else 0) | (128 if kind == 5 else 0)
            message = self._new_message(CHANNEL_ID, data if kind == 4 else {}, files, flags=flags)
            message["flags"] = flags if kind == 5 else message["flags"] | flags
            state.original_id = int(message["id"])
        elif kind in (6, 7):
            source = state.payload.get("message")
            if source is None:
                return self.problem("a deferred update on an interaction without a message")
            state.original_id = int(source["id"])
            if kind == 7:
                error = self._validate_message(data, files, "update message")
                if error:
                    return self.problem(error)
                self._apply(self.messages[state.original_id], data, files, creating=False)
                message = self.messages[state.original_id]
        elif kind == 8:
            if state.type != 4:
                return self.problem("autocomplete result for a non-autocomplete interaction")
            if len(data.get("choices", [])) > 25:
                return self.problem(f"autocomplete answered {len(data['choices'])} > 25 choices")
            for choice in data.get("choices", []):
                if not 1 <= len(choice["name"]) <= 100 or len(str(choice["value"])) > 100:
                    return self.problem(f"bad autocomplete choice {choice!r}")
        elif kind == 9:
            if state.type == 5:
                return self.problem("a modal cannot answer a modal submit")
            if len(data.get("custom_id", "")) > 100 or len(data.get("title", "")) > 45:
                return self.problem("modal custom_id > 100 or title > 45 characters")
        else:
            return self.problem(f"unknown callback type {kind}")
        response: dict[str, Any] = {
            "interaction": {
                "id": str(interaction_id),
                "type": state.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            },
            "resource": {"type": kind},
        }
        if message is not None:
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"]["message"] = self.public(message)
        return json_response(response)

    def _webhook_message(self, method: str, token: str, mid: str, body: Any, files: list) -> web.Response:
        state = self._state_for(token)
        if mid == "@original":
            if state.original_id is None:
                return json_response({"code": 10008, "message": "Unknown Message"}, status=404)
            message_id = state.original_id
        else:
            message_id = int(mid)
        if method == "GET":
            return self._message_response(message_id)
        if method == "DELETE":
            if mid == "@original":
                state.deleted_original = True
            return self._delete(message_id)
        return self._edit(message_id, body, files)

    def _followup(self, token: str, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        state = self._state_for(token)
        body = body or {}
        if state.callback_type is None:
            return self.problem("a followup before the interaction was answered")
        error = self._validate_message(body, files, "followup")
        if error:
            return self.problem(error)
        original = self.messages.get(state.original_id) if state.original_id else None
        if state.callback_type == 5 and original is not None and original["flags"] & 128:
            # Discord: the first followup after a "thinking" defer replaces the loading message.
            self._apply(original, body, files, creating=False)
            state.followups.append(int(original["id"]))
            return json_response(self.public(original))
        message = self._new_message(CHANNEL_ID, body, files)
        state.followups.append(int(message["id"]))
        return json_response(self.public(message))
