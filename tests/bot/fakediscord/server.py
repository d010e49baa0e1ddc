"""The fake Discord's aiohttp server: it reads and records each request and routes it to the endpoint that answers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.bot.fakediscord.driver import BotDriver
from tests.bot.fakediscord.shapes import (
    API_PREFIX,
    Recorded,
    json_response,
)


class FakeDiscord(BotDriver):
    """aiohttp.web server on 127.0.0.1 (random port) speaking the subset of Discord REST the bot uses."""

    # -- server ---------------------------------------------------------------------------------

    async def start(self, *, backlog: int = 128) -> None:
        """Serve on a free local port; `backlog` is the listening socket's (aiohttp's default: more simultaneous
        connections than that lose their SYN, which Linux resends after a second)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=backlog)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}{API_PREFIX}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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
            return json_response({"code": 10008, "message": f"Unknown {exc}"}, status=404)
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
                return json_response(self.user)
            case ["oauth2", "applications", "@me"] if method == "GET":
                return json_response(self._app_info())
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
                return json_response(self._channel(int(cid)))
            case ["channels", cid, "messages"] if method == "POST":
                return self._create_channel_message(int(cid), body, files)
            case ["channels", _cid, "messages", mid] if method == "PATCH":
                return self._edit(int(mid), body, files)
            case ["channels", _cid, "messages", mid] if method == "DELETE":
                return self._delete(int(mid))
            case ["channels", _cid, "messages", mid] if method == "GET":
                return self._message_response(int(mid))
        return self.problem(f"route not implemented by the fake: {method} /{'/'.join(parts)}")
