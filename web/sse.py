"""Server-sent events: a stream of bus events that ends when the job ends, the client goes, or the server stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi.responses import StreamingResponse

from web.events import TERMINAL, Event, Subscription, WebEvents

PING_S = 15.0  # a comment line this often keeps proxies and browsers from closing an idle stream
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx would buffer the stream otherwise


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame: `event: <type>` and the event as JSON."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


async def _next(subscription: Subscription, shutdown: asyncio.Event) -> Event | None:
    """The next event; None after PING_S without one; raises StopAsyncIteration once the server stops."""
    getting = asyncio.ensure_future(subscription.queue.get())
    stopping = asyncio.ensure_future(shutdown.wait())
    try:
        done, _ = await asyncio.wait({getting, stopping}, timeout=PING_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getting, stopping):
            task.cancel()
    if getting in done:
        return getting.result()
    if stopping in done:
        raise StopAsyncIteration
    return None


async def _frames(
    snapshot: Iterable[Event], subscription: Subscription, events: WebEvents, until_end: bool
) -> AsyncIterator[bytes]:
    try:
        async for chunk in _live(snapshot, subscription, events.shutdown, until_end):
            yield chunk
    finally:
        events.close(subscription)  # the stream ended for any reason: the job's end, the client gone, a shutdown


async def _live(
    snapshot: Iterable[Event], subscription: Subscription, shutdown: asyncio.Event, until_end: bool
) -> AsyncIterator[bytes]:
    for first in snapshot:
        yield frame(first)
        if until_end and first["type"] in TERMINAL:
            return
    while True:
        try:
            event = await _next(subscription, shutdown)
        except StopAsyncIteration:
            yield frame({"type": "bye"})  # the server is stopping: EventSource reconnects once it is back
            return
        if event is None:
            yield b": ping\n\n"
            continue
        yield frame(event)
        if until_end and event["type"] in TERMINAL:
            return


def stream(
    snapshot: Iterable[Event], subscription: Subscription, events: WebEvents, *, until_end: bool
) -> StreamingResponse:
    """The response for an already-open `subscription` (closed when the stream ends): `snapshot`, then live events."""
    return StreamingResponse(
        _frames(list(snapshot), subscription, events, until_end), media_type="text/event-stream", headers=HEADERS
    )
