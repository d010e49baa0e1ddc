"""The delivery router: a job's messages go to the port of the front door it came from (the job's origin).

Each adapter registers its `DeliveryPort` for the origins it shows: the Discord adapter for members' commands
("interaction") and schedules ("schedule"), the command line for its own ("cli"), the web studio for its own ("web").
The queue talks to the router only, as its one port.

A job whose origin has no port in this process is not lost: the queue runs only the jobs it can show (and those it
made itself, `JobQueue._runs`), so the job stays queued in SQLite until a process with a port for its origin runs
it: the bot after a restart, as for the jobs a crash left. A job this process made for an origin nobody shows here
(a script's, a test's) runs with nothing shown; its outcome is stored, and not marked delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from studio.contract import Deliverable, DeliveryPort, JobRoute, Origin, Progress, SchedulePaused, Unreachable

log = logging.getLogger(__name__)

T = TypeVar("T")
# Told when a port could not reach a job's channel: (job id, the port's reason). Auto-posts pause on it.
UnreachableReport = Callable[[int, str], Awaitable[None]]


class DeliveryRouter:
    """The queue's one DeliveryPort: each call goes to the port registered for the route's origin.

    It never raises: a port's failure is logged, so showing a job cannot break its bookkeeping, and a port's
    `Unreachable` goes to the core's listeners (`on_unreachable`) instead of the queue.
    """

    def __init__(self) -> None:
        self._ports: dict[str, DeliveryPort] = {}
        self._unreachable: list[UnreachableReport] = []
        self._registered: list[Callable[[], None]] = []

    # -- set-up ----------------------------------------------------------------------------------

    def register(self, port: DeliveryPort, *origins: Origin) -> None:
        """Show the jobs of `origins` through `port` from now on (its jobs waiting in the queue then run here)."""
        if not origins:
            raise ValueError("register a port for at least one origin, e.g. register(port, 'cli')")
        for origin in origins:
            held = self._ports.get(origin)
            if held is not None and held is not port:
                raise ValueError(f"origin {origin!r} has a port already: unregister it first (one port per origin)")
        for origin in origins:
            self._ports[origin] = port
        for hook in self._registered:
            hook()

    def unregister(self, *origins: Origin) -> None:
        for origin in origins:
            self._ports.pop(origin, None)

    def port(self, origin: str) -> DeliveryPort | None:
        """The port that shows the jobs of `origin` here, if any."""
        return self._ports.get(origin)

    def serves(self, origin: str) -> bool:
        """Whether a port here shows the jobs of `origin`."""
        return origin in self._ports

    def when_registered(self, hook: Callable[[], None]) -> None:
        """Call `hook` after each registration (the queue looks for jobs the new port lets it run)."""
        self._registered.append(hook)

    def on_unreachable(self, report: UnreachableReport) -> None:
        """Tell `report` when a port finds a job's channel closed to it (a core service listens; no adapter)."""
        self._unreachable.append(report)

    # -- DeliveryPort ----------------------------------------------------------------------------

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        return await self._call(route, lambda port: port.queued(route, position, eta_s))

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        await self._call(route, lambda port: port.progress(route, progress))

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        return await self._call(route, lambda port: port.delivered(route, result))

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        return await self._call(route, lambda port: port.posted(route, item))

    async def failed(self, route: JobRoute, message: str) -> None:
        await self._call(route, lambda port: port.failed(route, message))

    async def cancelled(self, route: JobRoute) -> None:
        await self._call(route, lambda port: port.cancelled(route))

    async def schedule_paused(self, notice: SchedulePaused) -> None:
        port = self._ports.get(notice.origin)
        if port is None:
            log.warning("auto-post %s paused, nobody here to tell: %s", notice.schedule_id, notice.reason)
            return
        try:
            await port.schedule_paused(notice)
        except Exception:
            log.exception("telling about the paused auto-post %s failed", notice.schedule_id)

    # -- internals -------------------------------------------------------------------------------

    async def _call(self, route: JobRoute, call: Callable[[DeliveryPort], Awaitable[T]]) -> T | None:
        port = self._ports.get(route.origin)
        if port is None:
            log.debug("job_id=%s: no port for origin %r here; nothing shown", route.job_id, route.origin)
            return None
        try:
            return await call(port)
        except Unreachable as exc:
            log.warning("job_id=%s: its channel is unreachable: %s", route.job_id, exc.reason)
            await self._report(route.job_id, exc.reason)
        except Exception:
            log.exception("job_id=%s: delivery failed", route.job_id)
        return None

    async def _report(self, job_id: int, reason: str) -> None:
        for report in self._unreachable:
            try:
                await report(job_id, reason)
            except Exception:
                log.exception("job_id=%s: handling its unreachable channel failed", job_id)
