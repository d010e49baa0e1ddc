"""`ThreadBackend`: one dedicated thread owns the GPU and runs every work order on it, in turn.

Pipelines, tokenizers and scheduler state are not safe to share across threads, so everything runs
on the one owner thread. Each lane has its own slots: a batch job (a training run) occupies a batch
slot, and interactive orders submitted meanwhile wait on the thread until the batch job calls
`ctx.yield_now()` between two of its steps, which runs them there and then, on the same thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from engine.backends.base import (
    LANES,
    BackendClosed,
    JobHandle,
    Lane,
    NoFreeSlot,
    OrderRunner,
    WorkerInfo,
    describe_runner,
)
from engine.work import WorkOrder

log = logging.getLogger(__name__)


class ThreadBackend:
    """Runs the orders on `host` on one daemon thread.

    `slots` is how many interactive jobs may be submitted but not finished at once (they still run one
    after another), `batch_slots` the same for the batch lane. With one slot each, the job service
    keeps every other queued job in SQLite. `name` is the one worker's name in `workers()`.
    """

    def __init__(
        self,
        host: OrderRunner,
        slots: int = 1,
        *,
        batch_slots: int = 1,
        thread_name: str = "studio-gpu",
        name: str = "local",
    ) -> None:
        if slots < 1 or batch_slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots} interactive and {batch_slots} batch")
        self._host = host
        self._name = name
        self._slots: dict[Lane, int] = {"interactive": slots, "batch": batch_slots}
        self._busy: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._cond = threading.Condition()
        self._closed = False
        self._stopping = False
        self._live: dict[JobHandle[Any], None] = {}  # in submission order
        self._pending: dict[Lane, deque[JobHandle[Any]]] = {lane: deque() for lane in LANES}
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The worker thread (for diagnostics and tests)."""
        return self._thread

    def free_slots(self, lane: Lane = "interactive") -> int:
        with self._cond:
            return 0 if self._closed else self._slots[lane] - self._busy[lane]

    def submit(self, order: WorkOrder, lane: Lane = "interactive") -> JobHandle[Any]:
        loop = asyncio.get_running_loop()
        host = self._host
        with self._cond:
            if self._closed:
                raise BackendClosed("the execution backend is shut down")
            if self._busy[lane] >= self._slots[lane]:
                raise NoFreeSlot(f"no free {lane} slot for job {order.job_id}")
            self._busy[lane] += 1
            handle: JobHandle[Any] = JobHandle(
                order.job_id, lambda ctx: host.run(order, ctx), loop, lambda: self._release(handle, lane)
            )
            self._live[handle] = None
            self._pending[lane].append(handle)
            self._cond.notify()
        log.debug("job_id=%s submitted (%s, %s)", order.job_id, order.task, lane)
        return handle

    async def workers(self) -> list[WorkerInfo]:
        """The one worker: the host's device (asked off the loop) and the jobs submitted to it, not yet finished."""
        info = await asyncio.to_thread(describe_runner, self._host, self._name)
        with self._cond:
            live = list(self._live)
        busy = any(handle.running() for handle in live)
        jobs = tuple(handle.job_id for handle in live)
        return [replace(info, busy=busy, jobs=jobs, alive=self._thread.is_alive())]

    async def shutdown(self) -> None:
        """Cancel pending and running jobs, stop the thread and wait for it off the event loop.

        A running job stops at its next cancel check; bound the wait with `asyncio.timeout` if
        the work may not check often (the thread is a daemon and will not block interpreter exit).
        """
        with self._cond:
            live = [] if self._closed else list(self._live)
            self._closed = True
        for handle in live:
            handle.cancel()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        await asyncio.to_thread(self._thread.join)

    def _release(self, handle: JobHandle[Any], lane: Lane) -> None:
        with self._cond:
            self._busy[lane] -= 1
            self._live.pop(handle, None)

    def _next(self) -> tuple[JobHandle[Any], Lane] | None:
        with self._cond:
            while True:
                for lane in LANES:  # interactive first
                    if self._pending[lane]:
                        return self._pending[lane].popleft(), lane
                if self._stopping:
                    return None
                self._cond.wait()

    def _run_interactive_now(self, before: Callable[[], None] | None = None) -> bool:
        """A batch job's yield point: run every interactive order waiting, on this thread."""
        ran = False
        while True:
            with self._cond:
                if not self._pending["interactive"]:
                    return ran
                handle = self._pending["interactive"].popleft()
            if not ran and before is not None:
                before()
            ran = True
            handle.run()

    def _loop(self) -> None:
        while True:
            picked = self._next()
            if picked is None:
                return
            handle, lane = picked
            handle.run(self._run_interactive_now if lane == "batch" else None)
