"""`RayBackend`: the same contract as `ThreadBackend`, with one Ray actor per GPU, on one machine or several.

Each actor owns its GPU (`num_gpus=1`: Ray pins it) and, inside, a `ThreadBackend` over its own engine host: one
owner thread per GPU, interactive and batch lanes, a training's yield points, exactly as on a single machine.
The job service still orders the jobs in SQLite and hands one over only when `free_slots(lane)` says a worker has
room; nothing waits inside Ray. A job goes to a free worker that already holds its base model when there is one.

An actor's `run` is an async generator streamed back (`num_returns="streaming"`): progress events, then the
outcome or the exception. Cancel reaches the actor's handle (its per-step flag); an actor that dies (its process,
its node) resolves the job with `WorkerLost`, which the job service retries by the kind's policy, and a new
actor takes its place.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.backends.base import (
    LANES,
    BackendClosed,
    JobHandle,
    Lane,
    NoFreeSlot,
    RunnerFactory,
    WorkerInfo,
    WorkerLost,
)
from engine.backends.shipping import Arrival, Files, pack, unpack
from engine.errors import Cancelled
from engine.work import WorkOrder

log = logging.getLogger(__name__)

NAMESPACE = "studio"
_SPAWNED = itertools.count(1)  # worker names are unique in this process, whatever backend made them
WORKER_PREFIX = "studio-worker-"


class _Worker:
    """The actor's body (made a Ray actor class by `_actor_class`): a ThreadBackend over its own runner."""

    def __init__(self, factory: RunnerFactory, slots: int, batch_slots: int) -> None:
        from engine.backends.thread import ThreadBackend

        self._runner = factory()
        self._backend = ThreadBackend(self._runner, slots=slots, batch_slots=batch_slots, thread_name="studio-ray-gpu")
        self._handles: dict[Any, JobHandle[Any]] = {}
        self._early: set[Any] = set()  # jobs cancelled before their `run` call got here
        self._scratch_dir: Path | None = None  # where shipped files live on this worker

    async def run(self, order: WorkOrder, lane: Lane, shipment: tuple[str, Files] | None = None):  # type: ignore[no-untyped-def]  # an async generator
        """Run `order`; with a `shipment` (the bot's data folder and the order's files) in this worker's scratch
        folder, sending back what the run wrote. Yields (kind, payload, files)."""
        back = Arrival(self._scratch(), shipment)
        order = back.arrive(order)
        handle = self._backend.submit(order, lane)
        self._handles[order.job_id] = handle
        if order.job_id in self._early:
            self._early.discard(order.job_id)
            handle.cancel()
        try:
            async for event in handle.events():
                yield ("progress", *back.progress(event))
            try:
                yield ("done", *back.leave(await handle.result()))
            except Exception as exc:  # the work's own error, Cancelled included: sent as it is
                yield ("error", *back.leave(exc))
        finally:
            self._handles.pop(order.job_id, None)

    def _scratch(self) -> Path:
        if self._scratch_dir is None:
            self._scratch_dir = Path(tempfile.mkdtemp(prefix="studio-worker-"))
        return self._scratch_dir

    async def cancel(self, job_id: Any) -> None:
        handle = self._handles.get(job_id)
        if handle is not None:
            handle.cancel()
        else:  # the two calls may arrive in either order
            self._early.add(job_id)

    async def pid(self) -> int:
        return os.getpid()

    async def close(self) -> None:
        """Before the actor is stopped: its scratch folder (shipped files) goes; the data folder stays."""
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)

    async def scratch(self) -> str | None:
        """Where this worker keeps the files shipped to it (None: nothing shipped yet)."""
        return str(self._scratch_dir) if self._scratch_dir else None

    async def info(self, name: str) -> WorkerInfo:
        """This worker as `workers()` shows it: its host's device and models, its jobs, and where it runs."""
        import ray

        (info,) = await self._backend.workers()
        gpus = ",".join(str(g) for g in ray.get_gpu_ids())
        where = f"{ray.util.get_node_ip_address()} pid {os.getpid()}" + (f", GPU {gpus}" if gpus else "")
        return replace(info, name=name, where=where)


def _actor_class(num_gpus: float) -> Any:
    import ray

    # No CPU reserved: a worker spends its time on its GPU, and the GPUs are what limits how many start.
    return ray.remote(num_gpus=num_gpus, num_cpus=0, max_restarts=0)(_Worker)


class _RayJobHandle(JobHandle[Any]):
    """A handle whose work runs in an actor: cancel also reaches the actor's own handle."""

    def __init__(self, job_id: Any, loop: asyncio.AbstractEventLoop, on_finish: Callable[[], None]) -> None:
        super().__init__(job_id, lambda ctx: None, loop, on_finish)
        self.actor: Any = None

    def cancelled_early(self) -> bool:
        return self._cancel_flag.is_set()

    def cancel(self) -> None:
        if self.done():
            return
        super().cancel()
        if self.actor is not None:
            self.actor.cancel.remote(self.job_id)


@dataclass
class _Slot:
    """One actor, what it runs and the base models it holds (the last ones its jobs used)."""

    name: str
    actor: Any
    busy: dict[Lane, int] = field(default_factory=lambda: dict.fromkeys(LANES, 0))
    models: list[str] = field(default_factory=list)
    current: dict[Any, str] = field(default_factory=dict)  # job id → task, for `studio workers`


def model_of(order: WorkOrder) -> str | None:
    """The base model an order needs, when it needs one (its spec's name)."""
    request = order.request
    for candidate in (request, getattr(request, "generate", None)):
        spec = getattr(candidate, "model", None)
        name = getattr(spec, "name", None)
        if isinstance(name, str):
            return name
    return None


class RayBackend:
    """Runs orders on `workers` Ray actors, each with one GPU (logical ones on a CPU machine) and its own runner.

    `factory` builds an actor's runner inside the actor (it must pickle: a class, or `functools.partial` of one).
    `address` joins a running cluster; None starts a local Ray (dashboard off: Ray listens beyond loopback).
    """

    def __init__(
        self,
        factory: RunnerFactory,
        workers: int = 1,
        *,
        address: str | None = None,
        slots: int = 1,
        batch_slots: int = 1,
        logical_gpus: int | None = None,
        max_models: int = 1,
        ship_files_from: Path | None = None,
    ) -> None:
        import ray

        if workers < 0:
            raise ValueError(f"workers must be 0 (one per GPU) or more, got {workers}")
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                options["address"] = address
            else:
                if logical_gpus is None and _local_gpus() == 0:
                    # No GPU here: as many logical ones as workers, so each worker still gets "its" device (the
                    # CPU); a test or a CPU-only install runs the same code as a GPU machine.
                    logical_gpus = max(1, workers)
                options |= {"num_gpus": logical_gpus}
                # Workers import the studio's modules (and a test's runner) as the driver does.
                options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(_import_roots())}}
            ray.init(**{k: v for k, v in options.items() if v is not None})
        self._factory = factory
        # None: every node sees the data folder at the same path; else the folder whose files travel with orders.
        self._data_dir = ship_files_from.resolve() if ship_files_from is not None else None
        self._per_worker: dict[Lane, int] = {"interactive": slots, "batch": batch_slots}
        self._max_models = max_models
        self._actor = _actor_class(1)
        workers = workers or max(1, int(ray.cluster_resources().get("GPU", 0)))
        self._slots = [_Slot(*self._spawn()) for _ in range(workers)]
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: set[_RayJobHandle] = set()
        self._closed = False
        self.loads: dict[int, int] = {}  # worker index → how many times a job there needed a model it lacked

    def _spawn(self) -> tuple[str, Any]:
        per = self._per_worker
        # Named, so that `studio workers` in another process finds this bot's workers on the cluster.
        name = f"{WORKER_PREFIX}{os.getpid()}-{next(_SPAWNED)}"
        actor = self._actor.options(name=name, namespace=NAMESPACE)
        return name, actor.remote(self._factory, per["interactive"], per["batch"])

    def free_slots(self, lane: Lane = "interactive") -> int:
        if self._closed:
            return 0
        return sum(self._per_worker[lane] - slot.busy[lane] for slot in self._slots)

    def wait_ready(self, limit_s: float = 120) -> list[int]:
        """Block until every actor has started (its process and runner); their process ids. Not on the loop."""
        import ray

        return list(ray.get([slot.actor.pid.remote() for slot in self._slots], timeout=limit_s))

    async def workers(self, limit_s: float = 30) -> list[WorkerInfo]:
        """Each actor as it describes itself, with the jobs this backend gave it; one that does not answer within
        `limit_s` (dead, or its node gone) is listed as not alive, with what this backend knows of it."""
        return list(await asyncio.gather(*(self._info(slot, limit_s) for slot in self._slots)))

    async def _info(self, slot: _Slot, limit_s: float) -> WorkerInfo:
        from ray.exceptions import RayError

        jobs = tuple(slot.current)
        try:
            info: WorkerInfo = await asyncio.wait_for(_awaited(slot.actor.info.remote(slot.name)), limit_s)
        except (RayError, TimeoutError) as exc:
            log.warning("Ray worker %s did not answer: %s", slot.name, exc)
            unknown = WorkerInfo(slot.name, "unknown", None, None, "unknown", tuple(slot.models), alive=False)
            return replace(unknown, busy=bool(jobs), jobs=jobs)
        return replace(info, busy=bool(jobs), jobs=jobs)

    def _pick(self, lane: Lane, model: str | None) -> int:
        free = [i for i, slot in enumerate(self._slots) if slot.busy[lane] < self._per_worker[lane]]
        if not free:
            raise NoFreeSlot(f"no free {lane} slot on any of {len(self._slots)} Ray worker(s)")

        def preference(i: int) -> tuple[bool, bool, bool, int]:
            slot = self._slots[i]
            return (
                # A worker that trains runs generations only between its steps: the others first.
                lane == "interactive" and slot.busy["batch"] > 0,
                # Affinity: a base model loads in seconds, a LoRA switch in milliseconds.
                model is None or model not in slot.models,
                bool(slot.models),  # else a worker that holds no model yet
                sum(slot.busy.values()),  # else the least busy
            )

        return min(free, key=preference)

    def submit(self, order: WorkOrder, lane: Lane = "interactive") -> JobHandle[Any]:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise BackendClosed("the execution backend is shut down")
        model = model_of(order)
        index = self._pick(lane, model)
        slot = self._slots[index]
        slot.busy[lane] += 1
        slot.current[order.job_id] = order.task
        if model is not None and model not in slot.models:
            self.loads[index] = self.loads.get(index, 0) + 1
            slot.models = [model, *slot.models][: self._max_models]

        def release() -> None:
            slot.busy[lane] -= 1
            slot.current.pop(order.job_id, None)

        handle = _RayJobHandle(order.job_id, loop, release)
        handle.actor = slot.actor
        handle._start()
        self._live.add(handle)
        task = loop.create_task(self._drive(handle, index, order, lane), name=f"ray job {order.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.debug("job_id=%s submitted to Ray worker %d (%s, %s)", order.job_id, index, order.task, lane)
        return handle

    async def _drive(self, handle: _RayJobHandle, index: int, order: WorkOrder, lane: Lane) -> None:
        from ray.exceptions import RayActorError

        actor = self._slots[index].actor
        value: Any = None
        error: BaseException | None = None
        if handle.cancelled_early():  # cancelled before this task ran: the order is never sent
            self._live.discard(handle)
            handle.finish(None, Cancelled())
            return
        try:
            shipment = None
            if self._data_dir is not None:  # files travel through the object store
                shipment = (str(self._data_dir), await asyncio.to_thread(pack, order, self._data_dir))
            stream = actor.run.options(num_returns="streaming").remote(order, lane, shipment)
            async for ref in stream:
                kind, payload, files = await ref
                if files and self._data_dir is not None:
                    await asyncio.to_thread(unpack, files, self._data_dir)
                if kind == "progress":
                    handle._emit(payload)
                elif kind == "done":
                    value = payload
                else:
                    error = payload
        except RayActorError as exc:
            error = WorkerLost(f"Ray worker {index} died while running job {order.job_id}: {exc}")
            self._replace(index, actor)
        except Exception as exc:  # an error of Ray itself: the job fails, the backend goes on
            error = exc
        if error is not None and not isinstance(error, Cancelled):
            log.error("job_id=%s failed on Ray worker %d", order.job_id, index, exc_info=error)
        self._live.discard(handle)
        handle.finish(value, error)

    def _replace(self, index: int, dead: Any) -> None:
        slot = self._slots[index]
        if slot.actor is dead and not self._closed:
            log.warning("Ray worker %d died: starting a new one", index)
            (slot.name, slot.actor), slot.models = self._spawn(), []

    async def shutdown(self) -> None:
        """Cancel outstanding work, wait for it to end, and stop the actors (Ray itself stays up)."""
        import ray

        self._closed = True
        for handle in list(self._live):
            handle.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        closing = [asyncio.ensure_future(_awaited(slot.actor.close.remote())) for slot in self._slots]
        await asyncio.wait(closing, timeout=10)  # a dead or stuck worker is killed all the same
        for slot in self._slots:
            ray.kill(slot.actor)


async def _awaited(ref: Any) -> Any:
    return await ref


def _studio_actors(address: str | None) -> list[tuple[str, Any]]:
    """The studio's named worker actors on the cluster at `address` (None: the one this machine runs)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address or "auto", include_dashboard=False, log_to_driver=False)
    named = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
    return [(name, ray.get_actor(name, namespace=NAMESPACE)) for name in named if name.startswith(WORKER_PREFIX)]


def worker_statuses(address: str | None = None, limit_s: float = 30) -> list[WorkerInfo]:
    """Every studio worker on the cluster at `address` (None: the one this machine runs), as it describes itself
    (from another process than the bot's: its jobs are those its actor runs)."""
    import ray

    actors = _studio_actors(address)
    found: list[WorkerInfo] = ray.get([actor.info.remote(name) for name, actor in actors], timeout=limit_s)
    return sorted(found, key=lambda w: w.name)


def scratch_dirs(address: str | None = None, limit_s: float = 30) -> list[str]:
    """The folders the cluster's studio workers keep shipped files in (`ray_files = "object-store"`)."""
    import ray

    found = ray.get([actor.scratch.remote() for _, actor in _studio_actors(address)], timeout=limit_s)
    return [folder for folder in found if folder]


def _local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _import_roots() -> list[str]:
    """The folders the driver imports the studio from, so that actors find the same modules."""
    import sys

    import engine

    root = os.path.dirname(os.path.dirname(os.path.abspath(engine.__file__)))
    return list(dict.fromkeys([root, *[p for p in sys.path if p and os.path.isdir(p)]]))
