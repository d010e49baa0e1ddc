"""One engine process as `ProcessBackend` sees it: the child, its socket threads, and the handles of jobs it runs.

`EngineChild` starts `python -m engine.backends.engine_process`, writes the backend's messages to it from one thread
and reads the child's answers on another, handing outcomes and its own end back to its `ChildOwner` (the backend).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Protocol

from engine.backends.base import JobHandle, JobId, Lane
from engine.backends.wire import EngineProcessError, loads, rebuilt_error

log = logging.getLogger(__name__)

_NUMBERS = itertools.count(1)


class ChildOwner(Protocol):
    """What a child reports to: its jobs' outcomes, and its own end."""

    def _finish(self, child: EngineChild, job_id: JobId, value: Any, error: BaseException | None) -> None: ...

    def _lost(self, child: EngineChild, code: int | None) -> None: ...


def describe_exit(code: int | None) -> str:
    """How a child ended, in words ("was killed by SIGKILL (out of memory?)")."""
    if code is None:
        return "could not be started"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


class ProcessJobHandle(JobHandle[Any]):
    """A job of the engine process: it waits on this side until its lane in the child is free, then runs there.

    A cancel before it was sent resolves it here (it never reaches the child); after, the cancel follows it there.
    """

    def __init__(
        self, job_id: JobId, lane: Lane, blob: bytes, loop: asyncio.AbstractEventLoop, on_finish: Callable[[], None]
    ) -> None:
        super().__init__(job_id, lambda ctx: None, loop, on_finish)
        self.lane = lane
        self.blob = blob  # the pickled order, sent when the lane is free
        self.child: EngineChild | None = None  # set before it starts, so that a cancel from then on reaches it

    def hand_to(self, child: EngineChild) -> bool:
        """Mark it as running in `child`, which owns it from now on; False if it was resolved (cancelled) already."""
        self.child = child  # first: a cancel that finds it started must also find where to send itself
        return self._start()

    def cancel(self) -> None:
        if self.done():
            return
        super().cancel()
        if self.child is not None:
            self.child.send(("cancel", self.job_id))

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_flag.is_set()


class EngineChild:
    """One engine process: its socket, a writer and a reader thread, the jobs sent to it (one per lane at a time)."""

    def __init__(self, backend: ChildOwner, hello: dict[str, Any]) -> None:
        self.number = next(_NUMBERS)
        self.jobs: dict[JobId, ProcessJobHandle] = {}  # sent and not yet resolved; guarded by the backend's lock
        self.dead = False  # set under the backend's lock once its jobs were failed
        self.ready = threading.Event()
        self.pid: int | None = None
        self.ready_s: float | None = None  # seconds from the start to a built runner
        self.facts: dict[str, Any] | None = None
        self.fatal: str | None = None  # why its runner could not be built
        self._backend = backend
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outbox.put(hello)
        self._proc: subprocess.Popen[bytes] | None = None
        self._kill = threading.Event()
        self._replies: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._main, name=f"studio-engine-io-{self.number}", daemon=True)
        self._thread.start()

    def send(self, message: Any) -> None:
        self._outbox.put(message)

    def ask(self, message: tuple[Any, ...], reply: Callable[[dict[str, Any]], None]) -> None:
        """Send a request whose answer goes to `reply` (on the reader thread)."""
        request = next(_NUMBERS)
        self._replies[request] = reply
        self.send((*message, request))

    def kill(self) -> None:
        self._kill.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def wait(self, limit_s: float | None) -> bool:
        """Block until the child has exited and its jobs are resolved; False on timeout. Not on the loop."""
        self._thread.join(limit_s)
        return not self._thread.is_alive()

    def _main(self) -> None:
        code: int | None = None
        try:
            ours, theirs = socket.socketpair()
            with theirs:
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(_import_roots())}
                command = [sys.executable, "-m", "engine.backends.engine_process", str(theirs.fileno())]
                # This interpreter, a module of this package: nothing here comes from outside.
                self._proc = subprocess.Popen(  # noqa: S603
                    command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env
                )
            self.pid = self._proc.pid
            if self._kill.is_set():
                self._proc.kill()
            conn = Connection(ours.detach())
            writer = threading.Thread(target=self._write, args=(conn,), name=f"studio-engine-out-{self.number}")
            writer.daemon = True
            writer.start()
            self._read(conn)
            code = self._proc.wait()
            conn.close()
        except OSError as exc:
            log.error("the engine process could not be started: %s", exc)
        finally:
            self._outbox.put(None)  # ends the writer
            self._backend._lost(self, code)

    def _write(self, conn: Connection) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                conn.send_bytes(pickle.dumps(message))
            except OSError:  # the child is gone: the reader sees it too
                return

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                return
            try:
                self._receive(loads(data))
            except Exception:  # one bad message must not stop the reading
                log.exception("engine process %s: could not handle a message", self.pid)

    def _receive(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "progress":
            handle = self.jobs.get(message[1])
            if handle is not None:
                handle._emit(message[2])
        elif kind == "done":
            try:
                value, error = loads(message[2]), None
            except Exception as exc:
                value, error = None, EngineProcessError(f"the outcome of job {message[1]} cannot be read here: {exc}")
            self._backend._finish(self, message[1], value, error)
        elif kind == "error":
            self._backend._finish(self, message[1], None, rebuilt_error(message[2], self.pid))
        elif kind == "log":
            logger = logging.getLogger(message[1]["name"])
            if logger.isEnabledFor(message[1]["levelno"]):
                logger.handle(logging.makeLogRecord(message[1]))
        elif kind == "reply":
            reply = self._replies.pop(message[1], None)
            if reply is not None:
                reply(message[2])
        elif kind == "ready":
            self.ready_s = time.monotonic() - self._started
            log.info("engine process %s ready in %.2f s", self.pid, self.ready_s)
            self.ready.set()
        elif kind == "fatal":
            self.fatal = message[1]
            log.error("the engine process could not build its runner:\n%s", message[1])


def _import_roots() -> list[str]:
    """The folders this process imports from, so that the child finds the same modules (its own included)."""
    import engine

    root = os.path.dirname(os.path.dirname(os.path.abspath(engine.__file__)))
    return list(dict.fromkeys([root, *[p for p in sys.path if p and os.path.isdir(p)]]))
