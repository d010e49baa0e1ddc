"""Execution backend: runs GPU work on one dedicated thread and bridges progress to asyncio.

The job service decides the order of jobs; it hands a job to the backend only when
`free_slots()` says there is room. The backend runs work functions one after another on a
single owner thread (pipelines, tokenizers and scheduler state are not safe to share across
threads) and reports progress, results and failures back on the submitter's event loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

logger = logging.getLogger(__name__)

T = TypeVar("T")
JobId = str | int


class JobCancelled(Exception):
    """The job was cancelled before or while it ran."""

    def __init__(self, job_id: JobId) -> None:
        super().__init__(f"job {job_id} was cancelled")
        self.job_id = job_id


class NoFreeSlot(RuntimeError):
    """`submit` was called while every slot was busy; wait for `free_slots() > 0`."""


class BackendClosed(RuntimeError):
    """`submit` was called after `shutdown`."""


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One progress report of a job: `step` of `total` done, estimated seconds left."""

    job_id: JobId
    step: int
    total: int
    eta_s: float | None
    elapsed_s: float


class WorkContext:
    """What the work function gets on the worker thread: progress reporting and the cancel flag."""

    def __init__(self, job_id: JobId, cancel_flag: threading.Event, emit: Callable[[ProgressEvent], None]) -> None:
        self.job_id = job_id
        self._cancel_flag = cancel_flag
        self._emit = emit
        self._started = time.monotonic()
        # The ETA is measured from the first report, not the job start, so that model loading
        # or prompt encoding before the first step does not inflate the per-step time.
        self._first: tuple[int, float] | None = None

    def cancelled(self) -> bool:
        """True once `cancel()` was called on the job's handle; check it between steps."""
        return self._cancel_flag.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise `JobCancelled` if the job was cancelled (a convenient early exit between steps)."""
        if self._cancel_flag.is_set():
            raise JobCancelled(self.job_id)

    def report(self, step: int, total: int) -> None:
        """Report that `step` of `total` steps are done; the ETA comes from the pace so far."""
        if total <= 0 or not 0 <= step <= total:
            raise ValueError(f"progress must satisfy 0 <= step <= total and total > 0, got {step}/{total}")
        now = time.monotonic()
        eta: float | None = None
        if step >= total:
            eta = 0.0
        elif self._first is None:
            self._first = (step, now)
        elif step > self._first[0]:
            per_step = (now - self._first[1]) / (step - self._first[0])
            eta = per_step * (total - step)
        self._emit(ProgressEvent(self.job_id, step, total, eta, now - self._started))


class _State(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"


class JobHandle(Generic[T]):
    """The submitter's view of one job: progress events, result, cancel.

    Create through `ExecutionBackend.submit` on the event loop; `events()` and `result()` must be
    awaited on that same loop. `cancel()` and `done()` are safe from any thread.
    """

    def __init__(
        self,
        job_id: JobId,
        work: Callable[[WorkContext], T],
        loop: asyncio.AbstractEventLoop,
        on_finish: Callable[[], None],
    ) -> None:
        self.job_id = job_id
        self._work = work
        self._loop = loop
        self._on_finish = on_finish
        self._cancel_flag = threading.Event()
        self._lock = threading.Lock()
        self._state = _State.PENDING
        # Progress: the worker keeps only the newest event and schedules at most one wake-up
        # on the loop at a time, so a slow consumer sees coalesced progress, never a backlog.
        self._latest: ProgressEvent | None = None
        self._wake_pending = False
        # Loop-side state, touched only on the loop thread.
        self._changed = asyncio.Event()
        self._finished = asyncio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    # -- any thread --------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the job to stop. A job that has not started yet never runs."""
        self._cancel_flag.set()
        with self._lock:
            if self._state is not _State.PENDING:
                return
            self._state = _State.FINISHED
        logger.info("Job %s cancelled before it started", self.job_id)
        self._complete(None, JobCancelled(self.job_id))

    def done(self) -> bool:
        """True once `result()` would return without waiting."""
        return self._finished.is_set()

    # -- event loop ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ProgressEvent]:
        """Progress events in order; may skip intermediate ones, never the last. Ends with the job.

        One consumer per handle: events are handed out once.
        """
        while True:
            self._changed.clear()
            with self._lock:
                event, self._latest = self._latest, None
            if event is not None:
                yield event
                continue
            if self._finished.is_set():
                return
            await self._changed.wait()

    async def result(self) -> T:
        """The work's return value; raises its exception, or `JobCancelled` for a cancelled job."""
        await self._finished.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    # -- worker thread -------------------------------------------------------------------------

    def _start(self) -> bool:
        with self._lock:
            if self._state is not _State.PENDING:
                return False
            self._state = _State.RUNNING
            return True

    def _run(self) -> None:
        """Run the work on the calling (worker) thread and deliver the outcome."""
        if not self._start():
            return
        logger.debug("Job %s started", self.job_id)
        ctx = WorkContext(self.job_id, self._cancel_flag, self._emit)
        value: T | None = None
        error: BaseException | None = None
        try:
            value = self._work(ctx)
        except JobCancelled as exc:
            error = exc
        except Exception as exc:
            logger.error("Job %s failed", self.job_id, exc_info=exc)
            error = exc
        except BaseException as exc:
            # KeyboardInterrupt/SystemExit: still resolve the handle, then let it propagate.
            self._finish(None, exc)
            raise
        if error is None and self._cancel_flag.is_set():
            # Cancelled while running but the work returned anyway: its result is partial.
            error = JobCancelled(self.job_id)
        if isinstance(error, JobCancelled):
            logger.info("Job %s cancelled while running", self.job_id)
        else:
            logger.debug("Job %s finished in %.2f s", self.job_id, time.monotonic() - ctx._started)
        self._finish(value, error)

    def _finish(self, value: T | None, error: BaseException | None) -> None:
        with self._lock:
            self._state = _State.FINISHED
        self._complete(value, error)

    def _complete(self, value: T | None, error: BaseException | None) -> None:
        # Free the slot first so that, once `result()` returns, `free_slots()` already counts it.
        self._on_finish()
        self._post(self._deliver, value, error)

    def _emit(self, event: ProgressEvent) -> None:
        with self._lock:
            self._latest = event
            if self._wake_pending:
                return
            self._wake_pending = True
        self._post(self._wake)

    def _post(self, callback: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            # The submitter's loop is closed (shutdown raced the job); nobody is listening.
            logger.debug("Job %s: event loop closed, dropping an update", self.job_id)

    # -- loop callbacks --------------------------------------------------------------------------

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._changed.set()

    def _deliver(self, value: T | None, error: BaseException | None) -> None:
        self._value, self._error = value, error
        self._finished.set()
        self._changed.set()


@runtime_checkable
class ExecutionBackend(Protocol):
    """Where jobs run. The job service submits only while `free_slots() > 0`."""

    def free_slots(self) -> int:
        """How many more jobs `submit` accepts right now."""
        ...

    def submit(self, job_id: JobId, work: Callable[[WorkContext], T]) -> JobHandle[T]:
        """Start `work` for `job_id`; raises `NoFreeSlot` when busy. Call on the event loop."""
        ...

    async def shutdown(self) -> None:
        """Cancel outstanding work and release the backend's resources."""
        ...


class ThreadBackend:
    """One daemon thread that owns the GPU and runs the submitted work functions in order.

    `slots` is how many jobs may be submitted but not finished at once; they still run one after
    another. With the default of 1 the job service keeps every queued job in SQLite.
    """

    def __init__(self, slots: int = 1, thread_name: str = "studio-gpu") -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._slots = slots
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        self._live: set[JobHandle[object]] = set()
        self._queue: queue.SimpleQueue[JobHandle[object] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The worker thread (for diagnostics and tests)."""
        return self._thread

    def free_slots(self) -> int:
        with self._lock:
            return 0 if self._closed else self._slots - self._busy

    def submit(self, job_id: JobId, work: Callable[[WorkContext], T]) -> JobHandle[T]:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise BackendClosed("the execution backend is shut down")
            if self._busy >= self._slots:
                raise NoFreeSlot(f"no free slot for job {job_id}: {self._busy} of {self._slots} busy")
            self._busy += 1
            handle: JobHandle[T] = JobHandle(job_id, work, loop, lambda: self._release(handle))
            self._live.add(handle)  # type: ignore[arg-type]
        self._queue.put(handle)  # type: ignore[arg-type]
        logger.debug("Job %s submitted", job_id)
        return handle

    async def shutdown(self) -> None:
        """Cancel pending and running jobs, stop the thread and wait for it off the event loop.

        A running job stops at its next cancel check; bound the wait with `asyncio.timeout` if
        the work may not check often (the thread is a daemon and will not block interpreter exit).
        """
        with self._lock:
            if self._closed:
                live: list[JobHandle[object]] = []
            else:
                self._closed = True
                live = list(self._live)
        for handle in live:
            handle.cancel()
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _release(self, handle: JobHandle[T]) -> None:
        with self._lock:
            self._busy -= 1
            self._live.discard(handle)  # type: ignore[arg-type]

    def _loop(self) -> None:
        while True:
            handle = self._queue.get()
            if handle is None:
                return
            handle._run()
