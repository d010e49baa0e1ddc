"""Progress as server-sent events: one job's (`/api/jobs/{id}/events`), or every job of the caller (`/api/events`).

Each stream starts with a snapshot from the core (a late subscriber sees where the job stands), then the web
delivery port's events (`web.events`): queued, progress, done (with the images), failed, cancelled.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from studio.bundle import StudioBundle
from studio.gallery.api import Viewer
from web.deps import Authenticated, Bundle, Events, Sees, Who
from web.events import Event, WebEvents, image_json
from web.routes.generate import done_images
from web.sse import stream

router = APIRouter(prefix="/api", tags=["events"], dependencies=Authenticated)


async def _snapshot(bundle: StudioBundle, events: WebEvents, viewer: Viewer, job_id: int) -> list[Event]:
    view = await bundle.jobs.job(viewer.caller, job_id)
    base: Event = {"job_id": view.job_id, "requester_id": view.requester_id}
    if view.status == "queued":
        return [{**base, "type": "queued", "position": view.position, "eta_s": view.eta_s}]
    if view.status == "running":
        return [events.last_progress(job_id) or {**base, "type": "progress", "step": view.step, "total": None}]
    if view.status == "done":
        images = await done_images(bundle, viewer, job_id)
        return [{**base, "type": "done", "images": [image_json(image) for image in images]}]
    if view.status == "failed":
        return [{**base, "type": "failed", "message": view.error or "The job failed."}]
    return [{**base, "type": "cancelled"}]


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
async def job_events(job_id: int, bundle: Bundle, events: Events, viewer: Sees) -> StreamingResponse:
    """One job's events (text/event-stream), ending with its end: done, failed or cancelled."""
    subscription = events.open(job_id=job_id)  # before the snapshot: nothing happens unseen in between
    try:
        snapshot = await _snapshot(bundle, events, viewer, job_id)
    except BaseException:
        events.close(subscription)
        raise
    return stream(snapshot, subscription, events, until_end=True)


@router.get("/events", response_class=StreamingResponse)
async def my_events(events: Events, caller: Who) -> StreamingResponse:
    """Every event of the caller's jobs (text/event-stream), until the client or the server goes."""
    return stream([], events.open(user_id=caller.user_id), events, until_end=False)
