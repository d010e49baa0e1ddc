"""Serving the app with uvicorn inside a running event loop: beside the bot's gateway, or alone (`studio web`).

Three things make uvicorn a good neighbour (measured: shared/web-notes.md §3):
- it leaves SIGINT/SIGTERM to `asyncio.run` (`capture_signals`), so Ctrl+C stops the bot and the web as it always
  stopped the bot;
- a bind failure calls `sys.exit`, caught here: a taken port costs the web, never the process;
- open event streams end on the `WebEvents.shutdown` event, and `timeout_graceful_shutdown` bounds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from web.events import WebEvents

log = logging.getLogger(__name__)

GRACEFUL_S = 3  # open requests get this long to finish once the server stops


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that installs no signal handlers: the process's owner (`asyncio.run`) keeps them."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()  # set once it listens (uvicorn itself only sets a flag)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


class WebServer:
    """The app on `host:port` (0: any free port) as a task of the running loop; `stop` ends it promptly.

    `announce` is told the port once it listens, `withdraw` once it stopped (the runner names the address in the
    data folder with them, for the command line's hand-off).
    """

    def __init__(
        self,
        app: FastAPI,
        events: WebEvents,
        host: str,
        port: int,
        *,
        announce: Callable[[int], None] | None = None,
        withdraw: Callable[[], None] | None = None,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,  # the studio's logging stays in charge
            timeout_graceful_shutdown=GRACEFUL_S,
            access_log=False,
        )
        self._server = EmbeddedServer(config)
        self.app = app
        self.events = events
        self._task: asyncio.Task[bool] | None = None
        self._announce = announce
        self._withdraw = withdraw

    async def _serve(self) -> bool:
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind: only the web ends here
            log.error("the web studio did not start (exit %s): is the port taken?", exc.code)
            return False
        return True

    async def start(self) -> bool:
        """Start serving; True once it listens, False when it could not (the port is taken)."""
        self._task = asyncio.create_task(self._serve(), name="web studio")
        listening = asyncio.create_task(self._server.listening.wait())
        await asyncio.wait({self._task, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if self._server.started and self._announce is not None:
            try:
                self._announce(self.port)
            except OSError as exc:  # the web serves on; only the command line's hand-off misses it
                log.warning("could not name the web's address in the data folder: %s", exc)
        return self._server.started

    @property
    def port(self) -> int:
        """The port it listens on (the one the OS chose, when asked for 0)."""
        for server in self._server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self._server.config.port

    async def wait(self) -> None:
        """Until the server stops (by `stop`, or by itself)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """End the open event streams, then the server; returns once it has stopped."""
        self.events.shutdown.set()
        self._server.should_exit = True
        try:
            if self._task is not None:
                await self._task
        finally:
            if self._withdraw is not None:
                self._withdraw()
