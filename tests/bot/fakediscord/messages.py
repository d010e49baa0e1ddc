"""The fake Discord's messages: Discord's limits on them, creating, editing and deleting them, and attachments."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.bot.fakediscord.shapes import (
    GUILD_ID,
    iso_time,
    json_response,
    snowflake,
)
from tests.bot.fakediscord.state import FakeState


class MessageStore(FakeState):
    """Messages and attachments, checked against the limits Discord enforces."""

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
            "timestamp": iso_time(),
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
            message["edited_timestamp"] = iso_time()
        message["flags"] &= ~128  # any content ends the "thinking…" state

    @staticmethod
    def public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def _message_response(self, message_id: int) -> web.Response:
        if message_id not in self.messages:
            return json_response({"code": 10008, "message": "Unknown Message"}, status=404)
        return json_response(self.public(self.messages[message_id]))

    def _create_channel_message(self, channel_id: int, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        if channel_id in self.refusing:
            status, code, message = self.refusing[channel_id]
            return json_response({"code": code, "message": message}, status=status)
        body = body or {}
        error = self._validate_message(body, files, "channel message")
        if error:
            return self.problem(error)
        if not (body.get("content") or body.get("embeds") or files):
            return self.problem("cannot send an empty message")
        return json_response(self.public(self._new_message(channel_id, body, files, _via_channel=True)))

    def _edit(self, message_id: int, body: Any, files: list[tuple[str, bytes]]) -> web.Response:
        if message_id not in self.messages:
            return json_response({"code": 10008, "message": "Unknown Message"}, status=404)
        body = body or {}
        error = self._validate_message(body, files, "edit")
        if error:
            return self.problem(error)
        self._apply(self.messages[message_id], body, files, creating=False)
        return json_response(self.public(self.messages[message_id]))

    def _delete(self, message_id: int) -> web.Response:
        if self.messages.pop(message_id, None) is None:
            return json_response({"code": 10008, "message": "Unknown Message"}, status=404)
        self.deleted.add(message_id)
        return web.Response(status=204)

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
