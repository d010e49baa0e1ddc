"""The engine process's side of `ProcessBackend`: `python -m engine.backends.engine_process FD`.

It reads a hello (the parent's import path, the pickled runner factory, the slots, the log level) from the socket
FD, builds the runner and a `ThreadBackend` over it, and then serves: orders to run, cancels, status requests and
a stop. Progress is relayed at most every `PROGRESS_INTERVAL_S` per job (the newest step; the last one always),
log records go to the parent's logging, outcomes and errors go back pickled. When the parent goes away (the socket
closes) the process ends at once: nobody is left to receive the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from engine.backends.base import JobHandle, JobId, OrderRunner
from engine.backends.thread import ThreadBackend
from engine.backends.wire import dump_error, load_trusted
from engine.errors import Cancelled, EngineError

PROGRESS_INTERVAL_S = 0.05  # a step a minute or a thousand a second: the parent sees at most 20 a second per job

log = logging.getLogger(__name__)


class _Sender:
    """Pickles and sends messages to the parent from any thread; a closed socket is ignored (the parent left)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message)
        with self._lock, contextlib.suppress(OSError):
            self._conn.send_bytes(data)


class _ToParent(logging.Handler):
    """Forwards log records to the parent, whose handlers (a terminal, the CLI's log file) decide what to keep."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__()
        self._sender = sender

    def filter(self, record: logging.LogRecord) -> bool:
        # A job's failure is logged by the parent with the same traceback (the error carries it): not twice.
        return not (record.name == "engine.backends.base" and record.levelno >= logging.ERROR and record.exc_info)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.__dict__)
            fields["msg"], fields["args"] = record.getMessage(), None
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            fields["exc_info"] = None
            self._sender.send(("log", {k: v for k, v in fields.items() if _plain(v)}))
        except Exception:
            self.handleError(record)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def describe(runner: OrderRunner) -> dict[str, Any]:
    """This worker's facts, from its runner's own `worker_info` (the engine host's imports torch)."""
    info = getattr(runner, "worker_info", None)
    if info is None:  # a bare test runner: nothing to ask
        return {"device": "cpu", "gpu_name": None, "gpu_memory_gb": None, "precision": "fp32", "loaded_models": []}
    try:
        worker = info("engine-process")
    except EngineError as exc:  # STUDIO_DEVICE names a GPU this machine lacks: its jobs say so, and so do we
        log.warning("%s", exc)
        return {"device": "unknown", "gpu_name": None, "gpu_memory_gb": None, "precision": "fp32", "error": str(exc)}
    return {
        "device": worker.device,
        "gpu_name": worker.gpu_name,
        "gpu_memory_gb": worker.gpu_memory_gb,
        "precision": worker.precision,
        "loaded_models": list(worker.loaded_models),
    }


class _Server:
    """Serves the parent's requests on this process's event loop."""

    def __init__(self, conn: Connection, sender: _Sender, runner: OrderRunner, slots: int, batch_slots: int) -> None:
        self._conn = conn
        self._send = sender.send
        self._runner = runner
        self._slots = (slots, batch_slots)
        self._handles: dict[JobId, JobHandle[Any]] = {}
        self._cancelled: set[JobId] = set()  # cancels the reader has seen, perhaps before their job's submit ran
        self._relays: set[asyncio.Task[None]] = set()
        self._facts: dict[str, Any] | None = None
        self._facts_lock = threading.Lock()

    async def serve(self) -> bool:
        """Until a stop (True) or the parent's disappearance (False)."""
        loop = asyncio.get_running_loop()
        backend = ThreadBackend(self._runner, self._slots[0], batch_slots=self._slots[1], thread_name="studio-engine")
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        threading.Thread(target=self._read, args=(loop, inbox), name="studio-engine-in", daemon=True).start()
        self._send(("ready", os.getpid()))
        if hasattr(self._runner, "config"):  # the real engine: load torch now rather than in the first job
            threading.Thread(target=self._facts_now, name="studio-engine-warm", daemon=True).start()
        while (message := await inbox.get()) is not None:
            if message[0] == "submit":
                self._submit(backend, *message[1:])
            elif message[0] == "cancel":
                handle = self._handles.get(message[1])
                if handle is not None:
                    handle.cancel()
            elif message[0] == "status":
                self._keep(asyncio.ensure_future(self._status(message[1])))
            elif message[0] == "stop":
                await backend.shutdown()
                if self._relays:
                    await asyncio.wait(set(self._relays))
                return True
        return False

    def _read(self, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[Any]) -> None:
        while True:
            try:
                message = load_trusted(self._conn.recv_bytes())
            except (EOFError, OSError):
                message = None
            if message is not None and message[0] == "cancel":
                # At once, from this thread: a queued job must not start while the loop has yet to see its cancel.
                self._cancelled.add(message[1])
                if handle := self._handles.get(message[1]):
                    handle.cancel()
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message is None:
                return

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)

    def _submit(self, backend: ThreadBackend, job_id: JobId, lane: Any, blob: bytes) -> None:
        if job_id in self._cancelled:  # cancelled before it reached the queue here: it never runs
            self._send(("error", job_id, dump_error(Cancelled())))
            return
        try:
            handle = backend.submit(load_trusted(blob), lane)
        except Exception as exc:  # an order this process cannot read, or a slot the parent miscounted
            self._send(("error", job_id, dump_error(exc)))
            return
        self._handles[job_id] = handle
        self._keep(asyncio.ensure_future(self._relay(job_id, handle)))

    async def _relay(self, job_id: JobId, handle: JobHandle[Any]) -> None:
        finished = asyncio.ensure_future(_ended(handle))
        try:
            async for event in handle.events():
                self._send(("progress", job_id, event))
                # Newer steps coalesce meanwhile; the wait ends early when the job does, so its outcome is not late.
                await asyncio.wait({finished}, timeout=PROGRESS_INTERVAL_S)
            try:
                value = await handle.result()
            except Exception as exc:
                self._send(("error", job_id, dump_error(exc)))
                return
            try:
                blob = pickle.dumps(value)
            except Exception as exc:
                self._send(("error", job_id, dump_error(TypeError(f"the outcome cannot be sent back: {exc}"))))
                return
            self._send(("done", job_id, blob))
        finally:
            self._handles.pop(job_id, None)
            finished.cancel()

    def _facts_now(self) -> dict[str, Any]:
        with self._facts_lock:  # one import of torch, however many ask at once
            if self._facts is None:
                try:
                    self._facts = describe(self._runner)
                except Exception:
                    log.exception("could not read this worker's device")
                    self._facts = {"device": "unknown", "gpu_name": None, "gpu_memory_gb": None, "precision": "fp32"}
            return self._facts

    async def _status(self, request: int) -> None:
        await asyncio.to_thread(self._facts_now)  # the first answer waits for torch, once
        facts = await asyncio.to_thread(describe, self._runner)  # then fresh: the models held change with the jobs
        facts["jobs"] = list(self._handles)
        self._send(("reply", request, facts))


async def _ended(handle: JobHandle[Any]) -> None:
    try:
        await handle.result()
    except BaseException:  # only its end matters here
        return


def main(argv: list[str]) -> int:
    # Ctrl+C in a terminal reaches the whole process group: the parent decides what a job does with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[1]))
    hello = load_trusted(conn.recv_bytes())
    if hello["nice"] > 0:
        os.nice(hello["nice"])
    sys.path[:] = list(dict.fromkeys([*hello["path"], *sys.path]))
    sender = _Sender(conn)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_ToParent(sender))
    root.setLevel(hello["log_level"])
    for name, level in hello["log_levels"].items():  # the libraries the parent quiets are quiet here too
        logging.getLogger(name).setLevel(level)
    started = time.monotonic()
    try:
        runner = load_trusted(hello["factory"])()
    except BaseException:
        sender.send(("fatal", traceback.format_exc()))
        return 1
    log.debug("runner built in %.2f s", time.monotonic() - started)
    stopped = asyncio.run(_Server(conn, sender, runner, hello["slots"], hello["batch_slots"]).serve())
    if not stopped:
        os._exit(0)  # the parent is gone: do not wait for a job's thread that nobody will hear from
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
