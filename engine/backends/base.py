"""The execution-backend contract: work orders in, progress and outcomes out, cancel between steps.

The job service decides the order of jobs; it hands a job to a backend only when `free_slots(lane)`
says there is room. What crosses this seam is data: a `WorkOrder` of plain, picklable values goes in,
a plain outcome comes back, so a backend may run the work on a thread, in another process or on
another machine. Progress is reported back on the submitter's event loop, coalesced, never backlogged.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from engine.errors import Cancelled, EngineError
from engine.work import WorkOrder

log = logging.getLogger(__name__)

T = TypeVar("T")
JobId = str | int
# Interactive jobs (a /generate) must never wait behind a batch job (a training run): each lane has
# its own slots, and a batch job lets interactive work run at its yield points.
Lane = Literal["interactive", "batch"]
LANES: tuple[Lane, ...] = ("interactive", "batch")


class NoFreeSlot(RuntimeError):
    """`submit` was called while every slot of the lane was busy; wait for `free_slots(lane) > 0`."""


class BackendClosed(RuntimeError):
    """`submit` was called after `shutdown`."""


class WorkerLost(EngineError):
    """The worker that ran the job died (a process or a node); the job may be tried again."""


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One progress report of a job: `step` of `total` done, estimated seconds left."""

    job_id: JobId
    step: int
    total: int
    eta_s: float | None
    elapsed_s: float
    detail: str | None = None  # what the step says besides its number: "loss 0.123, 2.1 samples/s"
    image: str | None = None  # a picture of the work so far (a training's newest sample grid): a file path


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker as its backend sees it: what training plans are sized against and `studio workers` shows."""

    name: str  # "local", "engine-process", "ray-0": stable for the backend's life
    device: str  # where its work runs: "cuda:0", "cpu", "mps"
    gpu_name: str | None  # the accelerator's product name; None on a CPU
    gpu_memory_gb: float | None  # the accelerator's total memory; None on a CPU
    precision: str  # the dtype its diffusion work runs in: "bf16", "fp16" or "fp32"
    loaded_models: tuple[str, ...] = ()  # base models it holds in memory, most recently used first
    busy: bool = False  # running a job now
    jobs: tuple[JobId, ...] = ()  # the jobs it runs now
    alive: bool = True  # False for a worker that died and is being replaced
    where: str = ""  # the machine and process, where that is not the asker's own ("10.0.0.5 pid 4242, GPU 0")

    @property
    def training_precision(self) -> str:
        """The precision as a training plan states it: bf16, fp16, or "no" (fp32)."""
        return "no" if self.precision == "fp32" else self.precision


def describe_runner(runner: OrderRunner, name: str) -> WorkerInfo:
    """What `runner` says of its device (`EngineHost.worker_info`); a runner that cannot say is a CPU worker.

    Blocking (it may import torch and ask the GPU): call it off the event loop.
    """
    describe = getattr(runner, "worker_info", None)
    if callable(describe):
        info = describe(name)
        assert isinstance(info, WorkerInfo), type(info)
        return info
    return WorkerInfo(name, device="cpu", gpu_name=None, gpu_memory_gb=None, precision="fp32")


# Runs the waiting interactive work (after calling `before` when there is some); True when it ran any.
YieldHook = Callable[[Callable[[], None] | None], bool]


class OrderRunner(Protocol):
    """What a backend runs orders on: `engine.host.EngineHost`, or a test double."""

    def run(self, order: WorkOrder, ctx: WorkContext) -> Any: ...


# Builds a runner where the work runs (an engine process, a Ray actor): a class, or `functools.partial` of one.
RunnerFactory = Callable[[], OrderRunner]


class WorkContext:
    """What the work gets where it runs: progress reporting, the cancel flag and a yield point."""

    def __init__(
        self,
        job_id: JobId,
        cancel_flag: threading.Event,
        emit: Callable[[ProgressEvent], None],
        yield_hook: YieldHook | None = None,
    ) -> None:
        self.job_id = job_id
        self._cancel_flag = cancel_flag
        self._emit = emit
        self._yield_hook = yield_hook
        self.started = time.monotonic()
        # The ETA is measured from the first report, not the job start, so that model loading
        # or prompt encoding before the first step does not inflate the per-step time.
        self._first: tuple[int, float] | None = None

    def cancelled(self) -> bool:
        """True once `cancel()` was called on the job's handle; check it between steps."""
        return self._cancel_flag.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise `Cancelled` if the job was cancelled (a convenient early exit between steps)."""
        if self._cancel_flag.is_set():
            raise Cancelled()

    def yield_now(self, before: Callable[[], None] | None = None) -> bool:
        """Let waiting interactive jobs run now (batch jobs call this between steps); a no-op elsewhere.

        `before` runs first when there is anything to run (a training puts its model in inference mode);
        True when something ran, so that the caller restores its own state only then.
        """
        if self._yield_hook is not None:
            return self._yield_hook(before)
        return False

    def report(self, step: int, total: int, detail: str | None = None, image: str | None = None) -> None:
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
        self._emit(ProgressEvent(self.job_id, step, total, eta, now - self.started, detail, image))


class _State(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"


class JobHandle(Generic[T]):
    """The submitter's view of one job: progress events, result, cancel.

    Made by a backend's `submit` on the event loop; `events()` and `result()` must be awaited on that
    same loop. `cancel()` and `done()` are safe from any thread.
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
        log.info("job_id=%s cancelled before it started", self.job_id)
        self._complete(None, Cancelled())

    def done(self) -> bool:
        """True once `result()` would return without waiting."""
        return self._finished.is_set()

    def running(self) -> bool:
        """True while the work runs on its worker (started, not finished)."""
        with self._lock:
            return self._state is _State.RUNNING

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
        """The work's return value; raises its exception, or `Cancelled` for a cancelled job."""
        await self._finished.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    # -- worker side ---------------------------------------------------------------------------

    def _start(self) -> bool:
        with self._lock:
            if self._state is not _State.PENDING:
                return False
            self._state = _State.RUNNING
            return True

    def run(self, yield_hook: YieldHook | None = None) -> None:
        """Run the work on the calling (worker) thread and deliver the outcome; a no-op once cancelled."""
        if not self._start():
            return
        log.debug("job_id=%s started", self.job_id)
        ctx = WorkContext(self.job_id, self._cancel_flag, self._emit, yield_hook)
        value: T | None = None
        error: BaseException | None = None
        try:
            value = self._work(ctx)
        except Cancelled as exc:
            error = exc
        except Exception as exc:
            log.error("job_id=%s failed", self.job_id, exc_info=exc)
            error = exc
        except BaseException as exc:
            # KeyboardInterrupt/SystemExit: still resolve the handle, then let it propagate.
            self.finish(None, exc)
            raise
        if error is None and self._cancel_flag.is_set():
            # Cancelled while running but the work returned anyway: its result is partial.
            error = Cancelled()
        if isinstance(error, Cancelled):
            log.info("job_id=%s cancelled while running", self.job_id)
        else:
            log.debug("job_id=%s finished in %.2f s", self.job_id, time.monotonic() - ctx.started)
        self.finish(value, error)

    def finish(self, value: T | None, error: BaseException | None) -> None:
        """Resolve the handle from the worker side (backends whose work runs elsewhere call this)."""
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
            log.debug("job_id=%s: event loop closed, dropping an update", self.job_id)

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
    """Where jobs run. The job service submits only while `free_slots(lane) > 0`."""

    def free_slots(self, lane: Lane = "interactive") -> int:
        """How many more jobs of `lane` `submit` accepts right now."""
        ...

    def submit(self, order: WorkOrder, lane: Lane = "interactive") -> JobHandle[Any]:
        """Start `order`; raises `NoFreeSlot` when the lane is busy, `BackendClosed` after shutdown.

        Call on the event loop. The handle's result is the order's outcome (plain data).
        """
        ...

    async def workers(self) -> list[WorkerInfo]:
        """Each worker: its device, GPU and memory, precision, the base models it holds, its jobs.

        Asked on the event loop; a backend answers without blocking it (the GPU is asked off the loop). A worker
        that died is listed with `alive` False until its replacement answers.
        """
        ...

    async def shutdown(self) -> None:
        """Cancel outstanding work and release the backend's resources."""
        ...
