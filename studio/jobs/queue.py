"""The job queue: persist → fair pump → run on the backend → complete → deliver. It knows no kind.

The order of jobs is decided here, over SQLite (fair between users, per lane), and a job is handed to
the execution backend only when its lane has a free slot. Every state change is written before it is
shown. What a job is, costs, runs and leaves behind is its kind's business (`JobKind`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine import LANES, Cancelled, EngineError, ExecutionBackend, JobHandle, Stopped, WorkerLost
from storage import Database
from storage.records import GuildSettings, Job
from studio.background import BackgroundTasks
from studio.contract import Caller, JobTicket, Progress
from studio.errors import NotFound, Refused, StudioError
from studio.jobs.admission import Admission
from studio.jobs.api import JobView, QueueView
from studio.jobs.completion import close_if_delivered, finish, retry_after_lost_worker
from studio.jobs.estimates import Estimates
from studio.jobs.kind import JobKind
from studio.jobs.listing import job_view, queue_view
from studio.jobs.recovery import Leftover, recover
from studio.jobs.router import DeliveryRouter
from studio.jobs.routes import route_of

log = logging.getLogger(__name__)

GENERIC_FAILURE = "The engine failed on this job; the error was logged for the admins."


class JobQueue:
    """One queue for every kind of job; kinds are registered by the container before `start()`.

    Each adapter registers its port with `delivery` for the origins it shows (before `start()`).
    """

    def __init__(self, db: Database, backend: ExecutionBackend) -> None:
        self._db = db
        self._backend = backend
        self.delivery = DeliveryRouter()  # never raises: a failure to show a job cannot break its bookkeeping
        self._kinds: dict[str, JobKind[Any]] = {}
        self.admission = Admission(db, self._kinds.get)
        self.estimates = Estimates(self._kinds.get)
        self._handles: dict[int, JobHandle[Any]] = {}
        self._finished: dict[int, asyncio.Event] = {}
        self._tasks = BackgroundTasks("job queue")
        self._pump_lock = asyncio.Lock()
        self._submit_lock = asyncio.Lock()
        self._closing = False
        self._started = False  # nothing is dispatched before start() has recovered stale jobs
        self._cancel_requested: set[int] = set()  # running jobs a user cancelled (not the shutdown)
        # Jobs made or waited on in this process. A command line runs only these; the bot runs every job but
        # those a command line left behind (`start`), whose caller is gone.
        self._mine: set[int] = set()
        self._own_only = False
        self._reader = False  # set by `read_only()`: another process may own the folder's queue
        self._steps: dict[int, int] = {}  # the last step each running job reported
        self.delivery.when_registered(self._kick)  # jobs waiting for a port of their origin may run now

    # -- set-up ----------------------------------------------------------------------------------

    def register(self, kind: JobKind[Any]) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"a job kind named {kind.name!r} is already registered")
        self._kinds[kind.name] = kind

    def kind(self, name: str) -> JobKind[Any]:
        kind = self._kinds.get(name)
        if kind is None:
            raise NotFound(f"This bot no longer runs jobs of kind {name!r}.")
        return kind

    async def start(self, *, own_only: bool = False) -> list[Leftover]:
        """Recover jobs a crash left running (by their kind's retry policy), then start dispatching.

        Only the data folder's owner (`studio.owner`) may call this. `own_only` (the command line)
        dispatches only the jobs this process submits or waits on. What a dead command line left is returned
        (`recovery.recover`).
        """
        self._own_only = own_only
        leftovers = await recover(self._db, self._kinds, self.delivery)
        self._started = True
        self._kick()
        return leftovers

    def read_only(self) -> None:
        """This process does not own the data folder (`studio.owner`): it never dispatches, waiting on a
        queued job gives up at once (TimeoutError), and the jobs it queued are dropped when it stops."""
        self._reader = True

    async def stop(self) -> None:
        """Stop dispatching; running work stops between steps and goes back to the queue for the next start."""
        self._closing = True
        if self._reader:
            for job_id in sorted(self._mine):  # nobody else runs them: the owner runs only its own (`_runs`)
                job = await self._db.jobs.get(job_id)
                if job is not None and job.status == "queued":
                    await self._db.jobs.cancel(job_id)
        for handle in list(self._handles.values()):
            handle.cancel()
        await self._tasks.wait(limit_s=10)

    def _silent(self, job: Job) -> bool:
        kind = self._kinds.get(job.kind)
        return kind is not None and kind.silent

    # -- submitting ------------------------------------------------------------------------------

    async def submit(
        self, caller: Caller, kind_name: str, request: Any, *, limits: GuildSettings | None = None, priority: int = 0
    ) -> JobTicket:
        """Queue a validated request after the access and load checks; shows it as queued unless it is silent."""
        (ticket,) = await self.submit_batch(kind_name, [(caller, request)], limits=limits, priority=priority)
        return ticket

    async def submit_batch(
        self,
        kind_name: str,
        entries: Sequence[tuple[Caller, Any]],
        *,
        limits: GuildSettings | None = None,
        priority: int = 0,
    ) -> list[JobTicket]:
        """Queue the jobs of one request (a character sheet's groups, say): weighed together, as one job of
        their total cost, against the first caller's limits, in one step with their inserts."""
        kind = self.kind(kind_name)
        first = entries[0][0]
        limits = limits or await self.admission.check_access(first)
        async with self._submit_lock:  # the load check and the inserts are one step
            if kind.limited:
                await self.admission.check_load(first, limits, sum(kind.cost(r) for _, r in entries))
            jobs = [await self._create(kind, caller, request, priority) for caller, request in entries]
        return [await self._announce(kind, job) for job in jobs]

    async def _create(self, kind: JobKind[Any], caller: Caller, request: Any, priority: int) -> Job:
        job = await self._db.jobs.create(
            kind.name,
            kind.dump(request),
            caller.user_id,
            guild_id=caller.guild_id,
            channel_id=caller.channel_id,
            priority=priority,
            interaction_token=caller.interaction_token,
            token_expires_at=caller.token_expires_at,
            origin=caller.origin,
            lane=kind.lane,
        )
        await self._db.job_files.add(job.id, kind.input_files(request))
        self._finished[job.id] = asyncio.Event()
        self._mine.add(job.id)
        return job

    async def _announce(self, kind: JobKind[Any], job: Job) -> JobTicket:
        # One read of the lane's order gives both the place and the ETA (a burst of submits reads it once each).
        waiting = await self._db.jobs.fair_queue(job.lane)
        position = next((i for i, queued in enumerate(waiting) if queued.id == job.id), None)
        if position is None:  # already started (or gone): nothing ahead of it
            position, eta = 0, self.estimates.eta([job])
        else:
            eta = self.estimates.eta(waiting[: position + 1])
        log.info("job_id=%s queued kind=%s user=%s position=%s", job.id, kind.name, job.requester_id, position)
        if not kind.silent:
            message_id = await self.delivery.queued(route_of(job), position, eta)
            if message_id:
                await self._db.jobs.set_message(job.id, job.channel_id, message_id)
        self._kick()
        return JobTicket(job.id, position, eta)

    # -- asking about jobs ----------------------------------------------------------------------

    async def find(self, job_id: int) -> Job | None:
        return await self._db.jobs.get(job_id)

    async def source_job(self, job_id: int) -> Job:
        """The job `job_id`; NotFound when it no longer exists."""
        job = await self._db.jobs.get(job_id)
        if job is None:
            raise NotFound("This job no longer exists.")
        return job

    @staticmethod
    def may_manage(caller: Caller, job: Job) -> None:
        if caller.user_id != job.requester_id and not caller.may_moderate:
            raise Refused("Only the person who asked for this job, or a moderator, can do that.")

    async def cancel(self, caller: Caller, job_id: int) -> None:
        await self._cancel(job_id, caller)

    async def _cancel(self, job_id: int, caller: Caller | None) -> None:
        """Cancel a job (after checking `caller` may); a running one stops between two steps."""
        # Under the dispatcher's lock: a job read as queued cannot be started before it is marked
        # cancelled, and a running one already has its handle.
        async with self._pump_lock:
            job = await self.source_job(job_id)
            if caller is not None:
                self.may_manage(caller, job)
            if job.status == "running":
                handle = self._handles.get(job_id)
                if handle is not None:
                    self._cancel_requested.add(job_id)
                    handle.cancel()  # the watcher records it when the worker stops between steps
                return
            if job.status != "queued":
                raise Refused(f"Job {job_id} has already ended ({job.status}).")
            if not await self._db.jobs.cancel(job_id):
                return
            self._set_finished(job_id)
        if not self._silent(job):
            await self.delivery.cancelled(route_of(job))

    async def adopt(self, caller: Caller, job_id: int) -> JobTicket:
        """Run here a queued job no process runs (a command line that ended left it; the bot's, while only the web
        runs), shown to `caller`'s front door from now on: a training resumed through the web."""
        async with self._pump_lock:  # not dispatched while its origin changes
            job = await self.source_job(job_id)
            if not self.left_waiting(job):
                state = "running" if job.status == "running" else "waiting its turn" if job.active else job.status
                raise Refused(f"Job {job_id} is {state} here already: there is nothing to resume.")
            job = await self._db.jobs.rehome(job_id, caller.origin)
            self._mine.add(job_id)
        return await self._announce(self.kind(job.kind), job)

    async def interrupt(self, limit_s: float = 30) -> tuple[list[int], list[Leftover]]:
        """Ctrl+C at the command line: cancel this process's unfinished jobs for good, and wait for them to stop.

        A resumable job (a training) is not cancelled but kept: the shutdown that follows stops it at a
        checkpoint and queues it again. Returns the cancelled job ids and the kept jobs.
        """
        cancelled: list[int] = []
        kept: list[Leftover] = []
        for job_id in sorted(self._mine):
            job = await self._db.jobs.get(job_id)
            if job is None or not job.active:
                continue
            kind = self._kinds.get(job.kind)
            if kind is not None and kind.retry == "resume":
                kept.append(Leftover.of(job, "kept"))
                continue
            try:
                await self._cancel(job_id, None)
            except Refused:  # it ended meanwhile
                continue
            cancelled.append(job_id)
        try:
            waits = [self._finished.setdefault(job_id, asyncio.Event()).wait() for job_id in cancelled]
            await asyncio.wait_for(asyncio.gather(*waits), limit_s)
        except TimeoutError:  # a step longer than the limit: the shutdown records the cancel when it stops
            log.warning("jobs %s did not stop within %s s", cancelled, limit_s)
        return cancelled, kept

    def last_step(self, job_id: int) -> int:
        """The last step a running job reported (0 before its first); after the shutdown stopped a job, the step
        it stopped at (a training's checkpoint: its events all arrive before it stops)."""
        return self._steps.get(job_id, 0)

    async def queue(self, caller: Caller) -> QueueView:
        return await queue_view(self._db, self._kinds.get, self.estimates, caller)

    async def job(self, caller: Caller, job_id: int) -> JobView:
        return await job_view(self._db, self._kinds.get, self.estimates, caller, job_id, self.last_step(job_id))

    async def wait(self, job_id: int, limit_s: float | None = None) -> Job:
        """Wait until a job ends (for the CLI and tests); returns its final row. A job waited on is run here,
        even one an earlier process left (`studio train --resume`)."""
        event = self._finished.setdefault(job_id, asyncio.Event())
        job = await self.source_job(job_id)
        if job.id not in self._mine:
            self._mine.add(job.id)
            self._kick()
        if self._reader and job.status == "queued":
            raise TimeoutError(f"job {job_id} waits for the data folder's owner")
        if job.active:
            await asyncio.wait_for(event.wait(), limit_s)
        return await self.source_job(job_id)

    # -- dispatching -----------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._started and not self._closing:
            self._tasks.spawn(self._pump(), name="job pump")

    async def _pump(self) -> None:
        """Hand queued jobs to the backend, fairly within each lane, while the lane has free slots."""
        async with self._pump_lock:
            for lane in LANES:
                while not self._closing and self._backend.free_slots(lane) > 0:
                    job = await self._next(lane)
                    if job is None:
                        break
                    await self._dispatch(await self._db.jobs.start(job.id))

    async def _next(self, lane: str) -> Job | None:
        """The lane's next job in fair order among those this process runs."""
        first = await self._db.jobs.next_fair(lane)
        if first is None or self._runs(first):
            return first
        for job in await self._db.jobs.fair_queue(lane):  # jobs another process runs come first
            if self._runs(job):
                return job
        return None

    def left_waiting(self, job: Job) -> bool:
        """Whether `job` waits with no process to run it (a command line that ended left it; the bot's, while only
        the web runs): `adopt` runs it here."""
        return job.status == "queued" and not self._runs(job)

    def _runs(self, job: Job) -> bool:
        # Jobs made or waited on here; and, unless the command line, every job this process can show (a port of its
        # origin is registered): the bot shows no command line's job, so it leaves those a dead `studio` left.
        return job.id in self._mine or (not self._own_only and self.delivery.serves(job.origin))

    async def _dispatch(self, job: Job) -> None:
        log.info("job_id=%s started kind=%s attempt=%s", job.id, job.kind, job.attempts)
        try:
            kind = self.kind(job.kind)
            request = kind.parse(job.request)
            order = await kind.order(job, request)
        except StudioError as exc:
            await self._fail(job, exc.message)
            return
        except Exception:  # a row this version cannot read must not stop the pump or stay 'running'
            log.exception("job_id=%s could not be started", job.id)
            await self._fail(job, GENERIC_FAILURE)
            return
        handle = self._backend.submit(order, job.lane)  # type: ignore[arg-type]
        self._handles[job.id] = handle
        self._tasks.spawn(self._watch(job, kind, request, handle), name=f"job {job.id}")

    async def _watch(self, job: Job, kind: JobKind[Any], request: Any, handle: JobHandle[Any]) -> None:
        route = route_of(job)
        retried = False
        started = time.monotonic()
        try:
            async for event in handle.events():
                self._steps[job.id] = event.step
                await kind.progressed(job, request, event.step, event.total, event.detail, event.image)
                if not kind.silent:
                    image = Path(event.image) if event.image else None
                    progress = Progress(job.id, event.step, event.total, event.eta_s, kind.label, event.detail, image)
                    await self.delivery.progress(route, progress)
            try:
                outcome = await handle.result()
            except Stopped as stop:  # a member's cancel that kept the work so far: the kind stores it
                if self._closing and job.id not in self._cancel_requested:
                    raise
                outcome = stop.outcome
            completion = await kind.complete(job, request, outcome)
        except Cancelled:
            if self._closing and job.id not in self._cancel_requested:
                log.info("job_id=%s stopped by shutdown; queued again for the next start", job.id)
                await self._db.jobs.requeue(job.id)
            else:
                log.info("job_id=%s cancelled", job.id)
                await self._db.jobs.cancel(job.id)
                if not kind.silent:
                    await self.delivery.cancelled(route)
        except WorkerLost as exc:
            retried = await retry_after_lost_worker(self._db, job, kind.retry, exc)
            if not retried:
                await self._fail(job, f"The worker running this job stopped ({exc.message}).")
        except (EngineError, StudioError) as exc:
            await self._fail(job, exc.message)
        except Exception:
            log.exception("job_id=%s failed", job.id)
            await self._fail(job, GENERIC_FAILURE)
        else:
            try:
                self.estimates.learn(kind, request, time.monotonic() - started, completion.units_done)
                await finish(self._db, self.delivery, job, completion)
            except Exception:
                log.exception("job_id=%s: storing or delivering its outcome failed", job.id)
                if not await close_if_delivered(self._db, job):  # shown: done; else failed, never left running
                    await self._fail(job, GENERIC_FAILURE)
        finally:
            if self._handles.get(job.id) is handle:  # a retried job's next attempt has a handle of its own
                del self._handles[job.id]
                self._cancel_requested.discard(job.id)
                if not self._closing:  # a job the shutdown stopped: its last step is what it saved (`last_step`)
                    self._steps.pop(job.id, None)
            if not retried or self._closing:  # a job tried again keeps its waiters waiting, until shutdown
                self._set_finished(job.id)
            self._kick()

    async def _fail(self, job: Job, message: str) -> None:
        log.warning("job_id=%s failed: %s", job.id, message)
        await self._db.jobs.fail(job.id, message)
        self._set_finished(job.id)
        if not self._silent(job):
            await self.delivery.failed(route_of(job), message)

    def _set_finished(self, job_id: int) -> None:
        self._finished.setdefault(job_id, asyncio.Event()).set()
