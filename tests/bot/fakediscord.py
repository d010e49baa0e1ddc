"""A small local fake of Discord's REST API, and a driver that feeds Discord-shaped interactions to a bot.

The bot logs in against it with its real HTTP client (`discord.http.Route.BASE` points here), so
every request discord.py builds (JSON or multipart) is parsed, recorded and checked against the
limits Discord enforces. Interactions are dispatched through `ConnectionState.parse_interaction_create`,
so the real CommandTree, DynamicItem and Modal machinery runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
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


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py decodes a body only when Content-Type is exactly application/json, as Discord sends it.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _iso(ts: datetime | None = None) -> str:
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


class FakeDiscord:
    """aiohttp.web server on 127.0.0.1 (random port) speaking the subset of Discord REST the bot uses."""

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

    # -- server ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}{API_PREFIX}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def problem(self, text: str) -> web.Response:
        self.problems.append(text)
        return _json({"code": 50035, "message": f"Invalid Form Body: {text}", "errors": {}}, status=400)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data)
                else:
                    files.append((part.filename or "", bytes(data)))  # type: ignore[union-attr]
            return payload, files
        if request.can_read_body:
            text = await request.text()
            return (json.loads(text) if text else None), []
        return None, []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body, files = await self._read_body(request)
        path = "/" + request.match_info["tail"]
        self.requests.append(Recorded(request.method, path, dict(request.query), body, [(n, len(b)) for n, b in files]))
        parts = path.strip("/").split("/")
        method = request.method
        try:
            return await self._route(method, parts, body, files, request)
        except KeyError as exc:
            return _json({"code": 10008, "message": f"Unknown {exc}"}, status=404)
        except Exception as exc:  # a bug in the fake must fail the test, not hang it
            self.problems.append(f"the fake crashed on {method} {path}: {exc!r}")
            raise

    async def _route(
        self, method: str, parts: list[str], body: Any, files: list[tuple[str, bytes]], request: web.Request
    ) -> web.StreamResponse:
        match parts:
            case ["_cdn", key, *_name] if method == "GET":
                self.downloads.append(key)
                return web.Response(body=self.cdn[key], content_type="application/octet-stream")
            case ["users", "@me"] if method == "GET":
                return _json(self.user)
            case ["oauth2", "applications", "@me"] if method == "GET":
                return _json(self._app_info())
            case ["applications", _app, "commands"] if method == "PUT":
                return self._sync(None, body)
            case ["applications", _app, "guilds", guild, "commands"] if method == "PUT":
                return self._sync(int(guild), body)
            case ["interactions", iid, token, "callback"] if method == "POST":
                return self._callback(int(iid), token, body, files)
            case ["webhooks", _app, token, "messages", mid] if method in ("GET", "PATCH", "DELETE"):
                return self._webhook_message(method, token, mid, body, files)
            case ["webhooks", _app, token] if method == "POST":
                return self._followup(token, body, files)
            case ["channels", cid] if method == "GET":
                return _json(self._channel(int(cid)))
            case ["channels", cid, "messages"] if method == "POST":
                return self._create_channel_message(int(cid), body, files)
            case ["channels", _cid, "messages", mid] if method == "PATCH":
                return self._edit(int(mid), body, files)
            case ["channels", _cid, "messages", mid] if method == "DELETE":
                return self._delete(int(mid))
            case ["channels", _cid, "messages", mid] if method == "GET":
                return self._message_response(int(mid))
        return self.problem(f"route not implemented by the fake: {method} /{'/'.join(parts)}")

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

    # -- validation ---------------------------------------------------------------------------------

    def _validate_message(self, body: dict[str, Any], files: list[tuple[str, bytes]], where: str) -> str | None:
        content = body.get("content")
        if content is not None and len(content) > 2000:
            return f"{where}: content has {len(content)} > 2000 characters"
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            return f"{where}: {len(embeds)} > 10 embeds"
        total = sum(len(json.dumps(e)) for e in embeds)  # an upper bound of Discord's character count
        for embed in embeds:
            if len(embed.get("fields", [])) > 25:
                return f"{where}: an embed has more than 25 fields"
            if len(embed.get("description") or "") > 4096:
                return f"{where}: an embed description exceeds 4096 characters"
            for f in embed.get("fields", []):
                if len(f.get("name", "")) > 256 or len(f.get("value", "")) > 1024 or not f.get("value"):
                    return f"{where}: an embed field exceeds 256/1024 characters or is empty"
        if total > 6000 * 2:
            return f"{where}: embeds are far above 6000 characters"
        if len(files) > 10:
            return f"{where}: {len(files)} > 10 attachments"
        size = sum(len(b) for _, b in files)
        if size > self.upload_limit:
            return f"{where}: upload of {size} bytes exceeds {self.upload_limit}"
        rows = body.get("components") or []
        if len(rows) > 5:
            return f"{where}: {len(rows)} > 5 action rows"
        seen: set[str] = set()
        for row in rows:
            if row.get("type") != 1:
                return f"{where}: top-level component of type {row.get('type')} is not an action row"
            children = row.get("components", [])
            if not 1 <= len(children) <= 5:
                return f"{where}: an action row has {len(children)} components (1..5)"
            for child in children:
                custom_id = child.get("custom_id")
                if custom_id is None and child.get("style") != 5:
                    return f"{where}: a component without custom_id"
                if custom_id is not None:
                    if len(custom_id) > 100:
                        return f"{where}: custom_id longer than 100: {custom_id!r}"
                    if custom_id in seen:
                        return f"{where}: duplicate custom_id {custom_id!r}"
                    seen.add(custom_id)
                if child.get("type") == 2 and not (child.get("label") or child.get("emoji")):
                    return f"{where}: a button needs a label or an emoji"
        return None

    # -- messages -------------------------------------------------------------------------------------

    def _new_message(self, channel_id: int, body: dict[str, Any], files: list[tuple[str, bytes]], **extra: Any) -> dict:
        message_id = snowflake()
        message = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD_ID),
            "type": 0,
            "author": self.user,
            "content": "",
            "embeds": [],
            "attachments": [],
            "components": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "tts": False,
            "pinned": False,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "flags": 0,
        }
        message.update(extra)
        self._apply(message, body, files, creating=True)
        self.messages[message_id] = message
        return message

    def _apply(self, message: dict[str, Any], body: dict[str, Any], files: list[tuple[str, bytes]], *, creating: bool):
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "flags" in body and body["flags"] is not None:
            message["flags"] = (message["flags"] & ~0xFFFF) | body["flags"]
        if "allowed_mentions" in body:
            message["_allowed_mentions"] = body["allowed_mentions"]
        uploaded = [
            {
                "id": str(snowflake()),
                "filename": name,
                "size": len(data),
                "url": f"https://cdn.invalid/{name}",
                "proxy_url": f"https://cdn.invalid/{name}",
            }
            for name, data in files
        ]
        if "attachments" in body and body["attachments"] is not None:
            keep = {str(a.get("id")) for a in body["attachments"]}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep] + uploaded
        else:
            message["attachments"] = message["attachments"] + uploaded
        for attachment, (_name, data) in zip(uploaded, files, strict=True):
            self.host(attachment, data)  # what the bot uploaded is downloadable, as from Discord's CDN
        if len(message["attachments"]) > 10:
            self.problems.append(f"message {message['id']} would have {len(message['attachments'])} > 10 attachments")
        message["_files"] = [(a["filename"], a["size"]) for a in message["attachments"]]
        if not creating:
            message["edited_timestamp"] = _iso()
        message["flags"] &= ~128  # any content ends the "thinking…" state

    @staticmethod
    def public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def _message_response(self, message_id: int) -> web.Response:
        if message_id not in self.messages:
            return _json({"code": 10008, "message": "Unknown Message"}, status=404)
        return _json(self.public(self.messages[message_id]))

    def _create_channel_message(self, channel_id: int, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        if channel_id in self.refusing:
            status, code, message = self.refusing[channel_id]
            return _json({"code": code, "message": message}, status=status)
        body = body or {}
        error = self._validate_message(body, files, "channel message")
        if error:
            return self.problem(error)
        if not (body.get("content") or body.get("embeds") or files):
            return self.problem("cannot send an empty message")
        return _json(self.public(self._new_message(channel_id, body, files, _via_channel=True)))

    def _edit(self, message_id: int, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        if message_id not in self.messages:
            return _json({"code": 10008, "message": "Unknown Message"}, status=404)
        body = body or {}
        error = self._validate_message(body, files, "edit")
        if error:
            return self.problem(error)
        self._apply(self.messages[message_id], body, files, creating=False)
        return _json(self.public(self.messages[message_id]))

    def _delete(self, message_id: int) -> web.Response:
        if self.messages.pop(message_id, None) is None:
            return _json({"code": 10008, "message": "Unknown Message"}, status=404)
        self.deleted.add(message_id)
        return web.Response(status=204)

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
        return _json(self.synced[guild_id])

    def _state_for(self, token: str) -> InteractionState:
        if token not in self.interactions:
            raise KeyError("Webhook")
        return self.interactions[token]

    def _callback(self, interaction_id: int, token: str, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        state = self.interactions.get(token)
        if state is None or state.id != interaction_id:
            return _json({"code": 10062, "message": "Unknown interaction"}, status=404)
        now = time.monotonic()
        if state.callback_type is not None:
            return _json({"code": 40060, "message": "Interaction has already been acknowledged."}, 400)
        if now - state.dispatched_at > CALLBACK_DEADLINE_S:
            self.problems.append(f"interaction {interaction_id} answered after {now - state.dispatched_at:.1f} s")
            return _json({"code": 10062, "message": "Unknown interaction"}, status=404)
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
        return _json(response)

    def _webhook_message(self, method: str, token: str, mid: str, body: Any, files: list) -> web.Response:
        state = self._state_for(token)
        if mid == "@original":
            if state.original_id is None:
                return _json({"code": 10008, "message": "Unknown Message"}, status=404)
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
            return _json(self.public(original))
        message = self._new_message(CHANNEL_ID, body, files)
        state.followups.append(int(message["id"]))
        return _json(self.public(message))

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
                "joined_at": _iso(),
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

    # -- attachments ------------------------------------------------------------------------------------

    def host(self, attachment: dict[str, Any], data: bytes) -> None:
        key = attachment["id"]
        self.cdn[key] = data
        attachment["url"] = attachment["proxy_url"] = f"{self.base_url}/_cdn/{key}/{attachment['filename']}"

    def attachment(self, data: bytes, filename: str = "photo.png", *, size: int | None = None) -> dict[str, Any]:
        """An uploaded file as Discord describes it; `size` may claim another size than the bytes have."""
        attachment = {
            "id": str(snowflake()),
            "filename": filename,
            "size": len(data) if size is None else size,
            "url": "",
            "proxy_url": "",
            "content_type": "image/png" if filename.endswith(".png") else "application/octet-stream",
        }
        self.host(attachment, data)
        return attachment

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
                "joined_at": _iso(),
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
