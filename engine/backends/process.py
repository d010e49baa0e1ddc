"""`ProcessBackend`: the engine in a child process of its own, behind the same contract as `ThreadBackend`.

The bot's event loop and a training share no interpreter lock here: the child (`engine_process.py`, started with
a fresh interpreter, never forked from a process that has threads and a loop) builds the runner and runs a
`ThreadBackend` over it, so lanes and a training's yield points behave exactly as in one process. This side keeps
the jobs that wait for their lane and sends the child one per lane at a time; orders go down a socket, progress
(coalesced in the child), outcomes, log records and worker facts come back; two threads per child
(`process_child.py`) do the blocking reads and writes, so the event loop never waits on the pipe.

What comes back is unpickled without importing anything heavy: a class from torch & co., or from an engine module
the bot has not imported itself, is refused (an error then travels as its type name and message), so the bot's
process never loads torch. A child that dies (a crash in C code, `os._exit`, the out-of-memory killer) fails the
jobs it was running with `WorkerLost`, which the job service retries by the kind's policy, and a fresh child takes
its place and the jobs that were waiting.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
import threading
from collections import deque
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
from engine.backends.process_child import EngineChild, ProcessJobHandle, describe_exit
from engine.backends.wire import EngineProcessError
from engine.errors import Cancelled, EngineError
from engine.work import WorkOrder

log = logging.getLogger(__name__)

WORKER_NAME = "engine-process"
NICE = 5  # the engine process's CPU priority, below the bot's (0 is a process's usual; 19 the lowest)


class ProcessBackend:
    """Runs orders in one engine process, on a runner that `factory` builds there.

    `factory` must pickle (a class, or `functools.partial` of one) and import without torch where it is pickled.
    `slots` and `batch_slots` are as for `ThreadBackend`. The child starts at once, off the event loop. It is sent
    one job per lane at a time (its one worker thread runs them one by one anyway, a batch job yielding to an
    interactive one): the others wait here, in order, so that cancelling one of them is exact and immediate.
    `stop_limit_s` bounds how long `shutdown` waits for the child to stop its work (a training saves a checkpoint)
    before killing it. `nice` lowers the child's CPU priority, so that on a busy machine the bot's process answers
    first (a GPU's work barely needs the CPU meanwhile).
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
        self._waiting: dict[Lane, deque[ProcessJobHandle]] = {lane: deque() for lane in LANES}
        self._child: EngineChild | None = self._spawn()
        self.restarts = 0  # children started after one died

    def _spawn(self) -> EngineChild:
        hello = {
            "path": list(sys.path),
            "factory": self._factory,
            "slots": self._slots["interactive"],
            "batch_slots": self._slots["batch"],
            "log_level": logging.getLogger().getEffectiveLevel(),
            "log_levels": _logger_levels(),
            "nice": self._nice,
        }
        return EngineChild(self, hello)

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
            self._busy[lane] += 1
            handle = ProcessJobHandle(order.job_id, lane, blob, loop, lambda: self._release(lane))
            self._waiting[lane].append(handle)
        self._dispatch_and_resolve()
        log.debug("job_id=%s submitted to the engine process (%s, %s)", order.job_id, order.task, lane)
        return handle

    async def shutdown(self) -> None:
        """Cancel outstanding work, let the child stop (`stop_limit_s`), and kill it if it does not."""
        with self._lock:
            self._closed = True
            child = self._child
            live = [h for lane in LANES for h in self._waiting[lane]]
            live += [] if child is None else child.jobs.values()
        for handle in live:  # the waiting ones resolve here at once; the sent ones are asked to stop
            handle.cancel()
        if child is None:
            return
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
            jobs = (*child.jobs, *(h.job_id for lane in LANES for h in self._waiting[lane] if not h.done()))
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
    def _current(self) -> EngineChild:
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

    def _dispatch(self) -> list[ProcessJobHandle]:
        """Send the child the next waiting job of each lane it has none of. Under the lock.

        Returns the jobs found cancelled as they were handed over, for the caller to resolve once it has let go of
        the lock (resolving frees a slot, which takes the lock).
        """
        child, cancelled = self._child, list[ProcessJobHandle]()
        if child is None or child.dead or self._closed:
            return cancelled
        for lane in LANES:
            waiting = self._waiting[lane]
            while waiting and not any(h.lane == lane for h in child.jobs.values()):
                handle = waiting.popleft()
                if not handle.hand_to(child):
                    continue  # cancelled while it waited: resolved already
                if handle.cancel_requested:  # cancelled as it was handed over: resolved here, nothing is sent
                    cancelled.append(handle)
                    continue
                child.jobs[handle.job_id] = handle
                child.send(("submit", handle.job_id, lane, handle.blob))
        return cancelled

    def _dispatch_and_resolve(self) -> None:
        with self._lock:
            cancelled = self._dispatch()
        for handle in cancelled:
            handle.finish(None, Cancelled())

    def _finish(self, child: EngineChild, job_id: JobId, value: Any, error: BaseException | None) -> None:
        with self._lock:
            handle = child.jobs.pop(job_id, None)
        self._dispatch_and_resolve()  # its lane is free in the child: the next one goes now, not after its delivery
        if handle is None:
            return
        if error is None and handle.cancel_requested:
            error = Cancelled()  # as on a thread: the work returned after the cancel, so its result is partial
        if error is not None and not isinstance(error, Cancelled):
            log.error("job_id=%s failed in the engine process", job_id, exc_info=error)
        handle.finish(value, error)

    def _lost(self, child: EngineChild, code: int | None) -> None:
        """The child has exited: the jobs it had fail, and a fresh child is started if this one had worked.

        The jobs still waiting here go to the fresh child; with none (the runner could not be built), they fail too.
        """
        with self._lock:
            child.dead = True
            orphans, child.jobs = list(child.jobs.values()), {}
            current = self._child is child
            replace = current and not self._closed and child.ready.is_set() and child.fatal is None
            if replace:
                self._child = self._spawn()
                self.restarts += 1
                orphans += self._dispatch()  # they resolve as Cancelled below
            elif current:
                for lane in LANES:
                    while self._waiting[lane]:
                        if (handle := self._waiting[lane].popleft()).hand_to(child):
                            orphans.append(handle)
        how = describe_exit(code)
        if (lost := [h.job_id for h in orphans if not h.cancel_requested]) and not self._closed:
            log.error("engine process %s %s while running job(s) %s", child.pid, how, lost)
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
