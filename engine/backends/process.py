"""`ProcessBackend`: the engine in a child process of its own, behind the same contract as `ThreadBackend`.

The bot's event loop and a training share no interpreter lock here: the child (`engine_process.py`, started with
a fresh interpreter, never forked from a process that has threads and a loop) builds the runner and runs a
`ThreadBackend` over it, so lanes and a training's yield points behave exactly as in one process. This side only
proxies: orders go down a socket, progress (coalesced in the child), outcomes, log records and worker facts come
back; two threads per child do the blocking reads and writes, so the event loop never waits on the pipe.

What comes back is unpickled without importing anything heavy: a class from torch & co., or from an engine module
the bot has not imported itself, is refused (an error then travels as its type name and message), so the bot's
process never loads torch. A child that dies (a crash in C code, `os._exit`, the out-of-memory killer) fails its
jobs with `WorkerLost`, which the job service retries by the kind's policy, and a fresh child takes its place.
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
from typing import Any

from engine.backends.base import (
    LANES,
    BackendClosed,
    JobHandle,
    JobId,
    Lane,
    NoFreeSlot,
    RunnerFactory,
    WorkerInfo,
    WorkerLost,
)
from engine.backends.wire import EngineProcessError, loads, rebuilt_error
from engine.errors import Cancelled, EngineError
from engine.work import WorkOrder

log = logging.getLogger(__name__)

WORKER_NAME = "engine-process"
NICE = 5  # the engine process's CPU priority, below the bot's (0 is a process's usual; 19 the lowest)
_NUMBERS = itertools.count(1)


def _death(code: int | None) -> str:
    if code is None:
        return "could not be started"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


class _ProcessJobHandle(JobHandle[Any]):
    """A handle whose work runs in the child: cancel also reaches the child's own handle."""

    def __init__(self, job_id: JobId, loop: asyncio.AbstractEventLoop, on_finish: Callable[[], None]) -> None:
        super().__init__(job_id, lambda ctx: None, loop, on_finish)
        self.child: _Child | None = None
        self._start()  # the child owns it from now on: a cancel goes there, the outcome comes from there

    def cancel(self) -> None:
        if self.done():
            return
        super().cancel()
        if self.child is not None:
            self.child.send(("cancel", self.job_id))

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_flag.is_set()


class _Child:
    """One engine process: its socket, a writer and a reader thread, the jobs sent to it."""

    def __init__(self, backend: ProcessBackend, hello: dict[str, Any]) -> None:
        self.number = next(_NUMBERS)
        self.jobs: dict[JobId, _ProcessJobHandle] = {}  # guarded by the backend's lock
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


class ProcessBackend:
    """Runs orders in one engine process, on a runner that `factory` builds there.

    `factory` must pickle (a class, or `functools.partial` of one) and import without torch where it is pickled.
    `slots` and `batch_slots` are as for `ThreadBackend`. The child starts at once, off the event loop; a job
    submitted before it is ready waits in the socket. `stop_limit_s` bounds how long `shutdown` waits for the child
    to stop its work (a training saves a checkpoint) before killing it. `nice` lowers the child's CPU priority, so
    that on a busy machine the bot's process answers first (a GPU's work barely needs the CPU meanwhile).
    """

    def __init__(
        self,
        factory: RunnerFactory,
        *,
        slots: int = 1,
        batch_slots: int = 1,
        stop_limit_s: float = 60,
        nice: int = NICE,
    ) -> None:
        if slots < 1 or batch_slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots} interactive and {batch_slots} batch")
        self._factory = pickle.dumps(factory)
        self._slots: dict[Lane, int] = {"interactive": slots, "batch": batch_slots}
        self._busy: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._stop_limit_s = stop_limit_s
        self._nice = nice
        self._lock = threading.Lock()
        self._closed = False
        self._child: _Child | None = self._spawn()
        self.restarts = 0  # children started after one died

    def _spawn(self) -> _Child:
        hello = {
            "path": list(sys.path),
            "factory": self._factory,
            "slots": self._slots["interactive"],
            "batch_slots": self._slots["batch"],
            "log_level": logging.getLogger().getEffectiveLevel(),
            "log_levels": _logger_levels(),
            "nice": self._nice,
        }
        return _Child(self, hello)

    # -- the contract --------------------------------------------------------------------------------
    def free_slots(self, lane: Lane = "interactive") -> int:
        with self._lock:
            return 0 if self._closed else self._slots[lane] - self._busy[lane]

    def submit(self, order: WorkOrder, lane: Lane = "interactive") -> JobHandle[Any]:
        loop = asyncio.get_running_loop()
        blob = pickle.dumps(order)  # before taking a slot: an order that cannot travel fails here
        with self._lock:
            if self._closed:
                raise BackendClosed("the execution backend is shut down")
            if self._busy[lane] >= self._slots[lane]:
                raise NoFreeSlot(f"no free {lane} slot for job {order.job_id}")
            if self._child is None or self._child.dead:
                self._child = self._spawn()
                self.restarts += 1
            child = self._child
            self._busy[lane] += 1
            handle = _ProcessJobHandle(order.job_id, loop, lambda: self._release(lane))
            handle.child = child
            child.jobs[order.job_id] = handle
        child.send(("submit", order.job_id, lane, blob))
        log.debug("job_id=%s submitted to the engine process (%s, %s)", order.job_id, order.task, lane)
        return handle

    async def shutdown(self) -> None:
        """Cancel outstanding work, let the child stop (`stop_limit_s`), and kill it if it does not."""
        with self._lock:
            self._closed = True
            child = self._child
            live = [] if child is None else list(child.jobs.values())
        if child is None:
            return
        for handle in reversed(live):  # the queued first: the running one's end must not free a thread for them
            handle.cancel()
        if child.ready.is_set():
            child.send(("stop",))
            if await asyncio.to_thread(child.wait, self._stop_limit_s):
                return
            log.warning("engine process %s did not stop within %.0f s: killing it", child.pid, self._stop_limit_s)
        child.kill()
        await asyncio.to_thread(child.wait, 10)

    # -- beyond the contract ---------------------------------------------------------------------------
    def wait_ready(self, limit_s: float = 120) -> int:
        """Block until the child has built its runner; its process id. Not on the event loop (see `ready`)."""
        child = self._current()
        if not child.ready.wait(limit_s) or child.pid is None:
            raise TimeoutError(f"the engine process was not ready within {limit_s:.0f} s")
        return child.pid

    async def ready(self, limit_s: float = 120) -> int:
        """Wait, off the loop, until the child has built its runner; its process id."""
        return await asyncio.to_thread(self.wait_ready, limit_s)

    async def workers(self, limit_s: float = 60) -> list[WorkerInfo]:
        """The engine process as a worker: its device, GPU, precision, the base models it holds, its jobs."""
        child = self._current()
        facts: dict[str, Any] | None = None
        if await asyncio.to_thread(child.ready.wait, limit_s) and not child.dead:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[dict[str, Any]] = loop.create_future()

            def settle(value: dict[str, Any]) -> None:
                if not answer.done():
                    answer.set_result(value)

            def reply(value: dict[str, Any]) -> None:
                loop.call_soon_threadsafe(settle, value)

            child.ask(("status",), reply)
            try:
                facts = await asyncio.wait_for(answer, limit_s)
                child.facts = facts
            except TimeoutError:
                facts = child.facts  # busy importing or stuck: what it said last
        with self._lock:
            jobs = tuple(child.jobs)
        known = facts or child.facts or {}
        if known.get("error"):  # the device the settings name is not there: as the thread backend, say so
            raise EngineError(known["error"])
        return [
            WorkerInfo(
                name=WORKER_NAME,
                device=known.get("device", "unknown"),
                gpu_name=known.get("gpu_name"),
                gpu_memory_gb=known.get("gpu_memory_gb"),
                precision=known.get("precision", "fp32"),
                loaded_models=tuple(known.get("loaded_models", ())),
                busy=bool(jobs),
                jobs=jobs,
                alive=facts is not None and not child.dead,
            )
        ]

    # -- the children ----------------------------------------------------------------------------------
    def _current(self) -> _Child:
        with self._lock:
            if self._child is None or self._child.dead:
                if self._closed:
                    raise BackendClosed("the execution backend is shut down")
                self._child = self._spawn()
                self.restarts += 1
            return self._child

    def _release(self, lane: Lane) -> None:
        with self._lock:
            self._busy[lane] -= 1

    def _finish(self, child: _Child, job_id: JobId, value: Any, error: BaseException | None) -> None:
        with self._lock:
            handle = child.jobs.pop(job_id, None)
        if handle is None:
            return
        if error is None and handle.cancel_requested:
            error = Cancelled()  # as on a thread: the work returned after the cancel, so its result is partial
        if error is not None and not isinstance(error, Cancelled):
            log.error("job_id=%s failed in the engine process", job_id, exc_info=error)
        handle.finish(value, error)

    def _lost(self, child: _Child, code: int | None) -> None:
        """The child has exited: its unfinished jobs fail, and a fresh child is started if this one had worked."""
        with self._lock:
            child.dead = True
            orphans, child.jobs = list(child.jobs.values()), {}
            replace = self._child is child and not self._closed and child.ready.is_set() and child.fatal is None
            if replace:
                self._child = self._spawn()
                self.restarts += 1
        how = _death(code)
        if orphans and not self._closed:
            log.error("engine process %s %s while running job(s) %s", child.pid, how, [h.job_id for h in orphans])
        for handle in orphans:
            if handle.cancel_requested:
                handle.finish(None, Cancelled())
            elif child.fatal is not None:
                handle.finish(None, EngineProcessError(f"the engine could not start: {child.fatal.splitlines()[-1]}"))
            else:
                handle.finish(None, WorkerLost(f"the engine process {how} while running job {handle.job_id}"))


def _logger_levels() -> dict[str, int]:
    """The levels set on named loggers here (the chatty libraries quieted): the child sets the same."""
    loggers = logging.Logger.manager.loggerDict.items()
    return {name: lg.level for name, lg in loggers if isinstance(lg, logging.Logger) and lg.level != logging.NOTSET}


def _import_roots() -> list[str]:
    """The folders this process imports from, so that the child finds the same modules (its own included)."""
    import engine

    root = os.path.dirname(os.path.dirname(os.path.abspath(engine.__file__)))
    return list(dict.fromkeys([root, *[p for p in sys.path if p and os.path.isdir(p)]]))
