"""The web's delivery port: every job event of its origin, published on an in-process bus by job and by requester.

The queue calls the port (`studio.contract.DeliveryPort`) as it calls Discord's; instead of editing a message, each
call becomes a plain event (a dict that is JSON as it stands) handed to every subscriber of that job or of its
requester: the server-sent event streams of `web.routes.events`. Nothing here blocks: a slow reader's queue drops
its oldest progress events, never a job's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from studio.contract import Deliverable, JobRoute, Progress, SchedulePaused
from studio.images.api import JobResult, ResultImage

log = logging.getLogger(__name__)

Event = dict[str, Any]
TERMINAL = frozenset({"done", "failed", "cancelled"})
QUEUE_LIMIT = 500  # events a subscriber may fall behind before its oldest progress events are dropped


def image_json(image: ResultImage) -> dict[str, Any]:
    """An image as the API shows it: by id and URL, never by path."""
    return {
        "id": image.image_id,
        "index": image.index,
        "url": f"/media/images/{image.image_id}",
        "thumb": f"/media/images/{image.image_id}/thumb",
        "width": image.width,
        "height": image.height,
        "seed": image.seed,
    }


@dataclass(eq=False)
class Subscription:
    """One reader of the bus: the events of one job, or of one requester's jobs."""

    job_id: int | None
    user_id: int | None
    queue: asyncio.Queue[Event]

    def wants(self, event: Event) -> bool:
        if self.job_id is not None:
            return bool(event["job_id"] == self.job_id)
        return bool(event["requester_id"] == self.user_id)

    def offer(self, event: Event) -> None:
        while self.queue.full():  # drop the oldest: a newer progress event supersedes it
            self.queue.get_nowait()
        self.queue.put_nowait(event)


class WebEvents:
    """Implements `DeliveryPort` for the web's origin; `shutdown` ends every open stream (the server is stopping)."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._progress: dict[int, Event] = {}  # the newest progress of each running job, for late subscribers
        self.shutdown = asyncio.Event()

    # -- the bus ---------------------------------------------------------------------------------

    def open(self, *, job_id: int | None = None, user_id: int | None = None) -> Subscription:
        """Receive the events of job `job_id`, or else of every job of `user_id`, until `close`."""
        if job_id is None and user_id is None:
            raise ValueError("subscribe to a job or to a user")
        subscription = Subscription(job_id, user_id, asyncio.Queue(QUEUE_LIMIT))
        self._subscriptions.append(subscription)
        return subscription

    def close(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    @contextlib.contextmanager
    def subscribe(self, *, job_id: int | None = None, user_id: int | None = None) -> Iterator[Subscription]:
        """`open` for the length of a `with` block."""
        subscription = self.open(job_id=job_id, user_id=user_id)
        try:
            yield subscription
        finally:
            self.close(subscription)

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscriptions)

    def last_progress(self, job_id: int) -> Event | None:
        """The newest progress event of a running job (None before its first step, and once it ended)."""
        return self._progress.get(job_id)

    def publish(self, route: JobRoute, kind: str, **data: Any) -> Event:
        event: Event = {"type": kind, "job_id": route.job_id, "requester_id": route.requester_id, **data}
        if kind == "progress":
            self._progress[route.job_id] = event
        elif kind in TERMINAL:
            self._progress.pop(route.job_id, None)
        for subscription in list(self._subscriptions):
            if subscription.wants(event):
                subscription.offer(event)
        return event

    # -- DeliveryPort ----------------------------------------------------------------------------

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        self.publish(route, "queued", position=position, eta_s=eta_s)
        return None  # no message shows the job: the browser asks by job id

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        self.publish(
            route,
            "progress",
            step=progress.step,
            total=progress.total,
            eta_s=progress.eta_s,
            label=progress.label,
            detail=progress.detail,
        )

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        images = [image_json(image) for image in result.images] if isinstance(result, JobResult) else []
        self.publish(route, "done", result=type(result).__name__, images=images)
        return None

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        self.publish(route, "posted", item=type(item).__name__)
        return None

    async def failed(self, route: JobRoute, message: str) -> None:
        self.publish(route, "failed", message=message)

    async def cancelled(self, route: JobRoute) -> None:
        self.publish(route, "cancelled")

    async def schedule_paused(self, notice: SchedulePaused) -> None:
        log.info("auto-post %s paused: %s", notice.schedule_id, notice.reason)  # schedules are Discord's
