"""Behaviour specific to ThreadBackend (the contract itself is in test_worker_contract.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest

from engine.worker import JobCancelled, ThreadBackend, WorkContext


@pytest.fixture
async def backend() -> AsyncIterator[ThreadBackend]:
    b = ThreadBackend(slots=2)
    yield b
    await asyncio.wait_for(b.shutdown(), 5)


async def test_worker_is_a_named_daemon_thread(backend: ThreadBackend) -> None:
    ident = await backend.submit(1, lambda ctx: threading.get_ident()).result()
    assert backend.thread.name == "studio-gpu"
    assert backend.thread.daemon
    assert ident == backend.thread.ident


async def test_shutdown_joins_the_thread() -> None:
    b = ThreadBackend()
    assert b.thread.is_alive()
    await asyncio.wait_for(b.shutdown(), 5)
    assert not b.thread.is_alive()
    await b.shutdown()  # idempotent


async def test_rejects_zero_slots() -> None:
    with pytest.raises(ValueError, match="slots"):
        ThreadBackend(slots=0)


async def test_slow_consumer_gets_coalesced_progress(backend: ThreadBackend) -> None:
    total = 5000

    def work(ctx: WorkContext) -> None:
        for step in range(1, total + 1):
            ctx.report(step, total)

    handle = backend.submit("fast", work)
    seen = []
    async for event in handle.events():
        seen.append(event.step)
        await asyncio.sleep(0.005)
    assert seen[-1] == total
    assert len(seen) < total / 10


async def test_cancelling_a_pending_job_frees_its_slot_at_once(backend: ThreadBackend) -> None:
    release = threading.Event()
    first = backend.submit("first", lambda ctx: release.wait(5))
    second = backend.submit("second", lambda ctx: None)
    assert backend.free_slots() == 0
    second.cancel()
    assert backend.free_slots() == 1
    with pytest.raises(JobCancelled):
        await second.result()
    assert not first.done()
    release.set()
    await first.result()


async def test_events_after_the_job_ended_yield_the_last_one(backend: ThreadBackend) -> None:
    def work(ctx: WorkContext) -> None:
        for step in range(1, 4):
            ctx.report(step, 3)

    handle = backend.submit("late", work)
    await handle.result()
    assert [e.step for e in [e async for e in handle.events()]] == [3]


async def test_report_rejects_nonsense_progress(backend: ThreadBackend) -> None:
    handle = backend.submit("bad", lambda ctx: ctx.report(5, 3))
    with pytest.raises(ValueError, match="step <= total"):
        await handle.result()


async def test_cancel_is_safe_from_another_thread(backend: ThreadBackend) -> None:
    def work(ctx: WorkContext) -> None:
        while not ctx.cancelled():
            time.sleep(0.002)

    handle = backend.submit("x", work)
    await asyncio.sleep(0.02)
    await asyncio.to_thread(handle.cancel)
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(handle.result(), 5)
