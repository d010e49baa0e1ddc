"""Progress as server-sent events, in-process (one job's stream ends with the job) and over a real socket
(the caller's stream, open until the server stops)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.runner import start_web
from tests.web.conftest import JOB_LIMIT_S, Studio
from web.server import WebServer

STREAM_LIMIT_S = 30.0  # a bound on a hang, not a speed expectation


def frames(text: str) -> list[dict]:
    """The events of an SSE body, in order (comments and pings skipped)."""
    found = []
    for block in text.split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            found.append(json.loads("".join(data)))
    return found


async def test_a_jobs_stream_ends_with_its_images(owner: httpx.AsyncClient, studio: Studio) -> None:
    ticket = (await owner.post("/api/generate/text-to-image", json={"prompt": "dunes", "num_outputs": 4})).json()
    answer = await asyncio.wait_for(owner.get(ticket["events_url"]), STREAM_LIMIT_S)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["x-accel-buffering"] == "no"
    events = frames(answer.text)
    assert {event["job_id"] for event in events} == {ticket["job_id"]}
    assert events[-1]["type"] == "done"
    assert [image["url"] for image in events[-1]["images"]] == [
        f"/media/images/{image['id']}" for image in events[-1]["images"]
    ]
    assert len(events[-1]["images"]) == 4
    steps = [event["step"] for event in events if event["type"] == "progress"]
    assert steps == sorted(steps)


async def test_a_finished_jobs_stream_is_its_snapshot(owner: httpx.AsyncClient, studio: Studio) -> None:
    ticket = (await owner.post("/api/generate/text-to-image", json={"prompt": "dunes", "num_outputs": 2})).json()
    await studio.services.jobs.wait(ticket["job_id"], JOB_LIMIT_S)
    events = frames((await owner.get(ticket["events_url"])).text)
    assert [event["type"] for event in events] == ["done"]
    assert len(events[0]["images"]) == 2


async def _subscribed(studio: Studio) -> None:
    while not studio.server.events.subscribers:  # noqa: ASYNC110 - the bus has no event for a new reader
        await asyncio.sleep(0.01)


async def test_a_cancelled_jobs_stream_ends_cancelled(owner: httpx.AsyncClient, studio: Studio) -> None:
    await studio.services.jobs.stop()  # nothing dispatches: the job waits until cancelled
    ticket = (await owner.post("/api/generate/text-to-image", json={"prompt": "dunes", "num_outputs": 1})).json()
    listening = asyncio.create_task(owner.get(ticket["events_url"]))
    await asyncio.wait_for(_subscribed(studio), STREAM_LIMIT_S)  # the stream opened with the queued snapshot
    assert (await owner.post(f"/api/jobs/{ticket['job_id']}/cancel")).status_code == 200
    events = frames((await asyncio.wait_for(listening, STREAM_LIMIT_S)).text)
    assert [event["type"] for event in events][-1] == "cancelled"
    assert {event["type"] for event in events} <= {"queued", "cancelled"}


@pytest.fixture
async def served(studio: Studio) -> AsyncIterator[tuple[WebServer, httpx.AsyncClient]]:
    """The app served by uvicorn on a free port of 127.0.0.1, and a script's client for it."""
    assert await studio.server.start()
    headers = {"Authorization": f"Bearer {studio.token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{studio.server.port}", headers=headers) as script:
        yield studio.server, script
    await studio.server.stop()


async def _read(lines: AsyncIterator[str], until: str) -> list[dict]:
    """Events off an open stream's lines until one of type `until` (pings skipped)."""
    found: list[dict] = []
    async for line in lines:
        if line.startswith("data: "):
            found.append(json.loads(line[6:]))
            if found[-1]["type"] == until:
                return found
    return found


async def test_the_callers_stream_carries_every_job_of_theirs(served: tuple[WebServer, httpx.AsyncClient]) -> None:
    _server, script = served
    async with script.stream("GET", "/api/events") as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        first = await script.post("/api/generate/text-to-image", json={"prompt": "a", "num_outputs": 1})
        events = await asyncio.wait_for(_read(lines, "done"), STREAM_LIMIT_S)
        second = await script.post("/api/generate/text-to-image", json={"prompt": "b", "num_outputs": 2})
        events += await asyncio.wait_for(_read(lines, "done"), STREAM_LIMIT_S)
    first_id, second_id = first.json()["job_id"], second.json()["job_id"]
    assert [(e["job_id"], e["type"]) for e in events if e["type"] in ("queued", "done")] == [
        (first_id, "queued"),
        (first_id, "done"),
        (second_id, "queued"),
        (second_id, "done"),
    ]
    assert len(events[-1]["images"]) == 2


async def test_stopping_the_server_ends_open_streams(served: tuple[WebServer, httpx.AsyncClient]) -> None:
    server, script = served
    async with script.stream("GET", "/api/events") as stream:
        assert stream.status_code == 200
        reading = asyncio.create_task(_read(stream.aiter_lines(), "bye"))  # the stream is open: its headers came
        await asyncio.wait_for(server.stop(), STREAM_LIMIT_S)
        events = await asyncio.wait_for(reading, STREAM_LIMIT_S)
    assert events == [{"type": "bye"}]


async def test_a_taken_port_leaves_the_process_running(studio: Studio, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        beats = 0

        async def heartbeat() -> None:  # stands in for the bot's gateway
            nonlocal beats
            while True:
                beats += 1
                await asyncio.sleep(0.01)

        bot = asyncio.create_task(heartbeat())
        server = WebServer(studio.app, studio.server.events, "127.0.0.1", port)
        settings = studio.settings.model_copy(update={"web": studio.settings.web.model_copy(update={"port": port})})
        assert await start_web(server, settings) is False  # SystemExit inside uvicorn did not escape
        before = beats
        await asyncio.sleep(0.05)
        assert not bot.done() and beats > before  # the bot goes on
        bot.cancel()
    assert "could not listen on port" in caplog.text
