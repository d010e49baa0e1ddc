"""Contract tests for any ExecutionBackend: a future Ray backend adds its factory to BACKENDS."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest

from engine.worker import (
    BackendClosed,
    ExecutionBackend,
    JobCancelled,
    NoFreeSlot,
    ProgressEvent,
    ThreadBackend,
    WorkContext,
)

BACKENDS: dict[str, Callable[[int], ExecutionBackend]] = {
    "thread": lambda slots: ThreadBackend(slots=slots),
}


@pytest.fixture(params=sorted(BACKENDS))
async def make_backend(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., ExecutionBackend]]:
    """Build backends of the parametrised kind; each is shut down after the test."""
    created: list[ExecutionBackend] = []

    def factory(slots: int = 1) -> ExecutionBackend:
        backend = BACKENDS[request.param](slots)
        created.append(backend)
        return backend

    yield factory
    for backend in created:
        await asyncio.wait_for(backend.shutdown(), 5)


@pytest.fixture
async def backend(make_backend: Callable[..., ExecutionBackend]) -> ExecutionBackend:
    return make_backend()


async def test_satisfies_protocol(backend: ExecutionBackend) -> None:
    assert isinstance(backend, ExecutionBackend)


async def test_returns_the_work_value(backend: ExecutionBackend) -> None:
    handle = backend.submit("j1", lambda ctx: f"done {ctx.job_id}")
    assert handle.job_id == "j1"
    assert await handle.result() == "done j1"
    assert handle.done()


async def test_all_work_runs_on_one_non_main_thread(backend: ExecutionBackend) -> None:
    idents = []
    for i in range(4):
        idents.append(await backend.submit(i, lambda ctx: threading.get_ident()).result())
    assert len(set(idents)) == 1
    assert idents[0] != threading.get_ident()
    assert idents[0] != threading.main_thread().ident


async def test_free_slots_drop_while_busy_and_return_after(backend: ExecutionBackend) -> None:
    started, release = threading.Event(), threading.Event()

    def work(ctx: WorkContext) -> int:
        started.set()
        release.wait(5)
        return 7

    assert backend.free_slots() == 1
    handle = backend.submit("busy", work)
    assert backend.free_slots() == 0
    await asyncio.to_thread(started.wait, 5)
    assert backend.free_slots() == 0
    assert not handle.done()
    release.set()
    assert await handle.result() == 7
    assert backend.free_slots() == 1


async def test_submit_without_a_free_slot_raises(backend: ExecutionBackend) -> None:
    release = threading.Event()
    handle = backend.submit("a", lambda ctx: release.wait(5))
    with pytest.raises(NoFreeSlot):
        backend.submit("b", lambda ctx: None)
    release.set()
    await handle.result()
    # The slot is usable again.
    assert await backend.submit("c", lambda ctx: 3).result() == 3


async def test_progress_events_arrive_in_order_with_eta(backend: ExecutionBackend) -> None:
    total = 6

    def work(ctx: WorkContext) -> str:
        for step in range(total + 1):
            time.sleep(0.03)
            ctx.report(step, total)
        return "ok"

    handle = backend.submit("p", work)
    events = [event async for event in handle.events()]
    assert await handle.result() == "ok"
    assert all(isinstance(e, ProgressEvent) and e.job_id == "p" and e.total == total for e in events)
    steps = [e.step for e in events]
    assert steps == sorted(set(steps)), "steps must be strictly increasing"
    assert steps[-1] == total
    assert events[-1].eta_s == 0.0
    # Every step took ~30 ms, so a mid-run ETA is close to 30 ms per remaining step.
    mid = [e for e in events if 0 < e.step < total and e.eta_s is not None]
    assert mid, "expected at least one mid-run event with an ETA"
    for e in mid:
        assert 0.01 * (total - e.step) < e.eta_s < 0.2 * (total - e.step)
    elapsed = [e.elapsed_s for e in events]
    assert elapsed == sorted(elapsed)


async def test_slow_consumer_never_loses_the_final_event(backend: ExecutionBackend) -> None:
    total = 2000

    def work(ctx: WorkContext) -> None:
        for step in range(1, total + 1):
            ctx.report(step, total)

    handle = backend.submit("fast", work)
    seen = []
    async for event in handle.events():
        seen.append(event.step)
        await asyncio.sleep(0.01)
    assert seen[-1] == total
    assert seen == sorted(set(seen))


async def test_cancel_before_start_never_runs(make_backend: Callable[..., ExecutionBackend]) -> None:
    backend = make_backend(slots=2)
    release = threading.Event()
    ran = threading.Event()
    first = backend.submit("first", lambda ctx: release.wait(5))
    second = backend.submit("second", lambda ctx: ran.set())
    second.cancel()
    release.set()
    assert await first.result() is True
    with pytest.raises(JobCancelled):
        await second.result()
    assert [e async for e in second.events()] == []
    assert backend.free_slots() == 2
    assert not ran.is_set()


async def test_cancel_between_steps(backend: ExecutionBackend) -> None:
    seen_cancel_at: list[int] = []

    def work(ctx: WorkContext) -> str:
        for step in range(1, 1001):
            if ctx.cancelled():
                seen_cancel_at.append(step)
                return "partial"
            ctx.report(step, 1000)
            time.sleep(0.005)
        return "complete"

    handle = backend.submit("c", work)
    async for event in handle.events():
        if event.step >= 3:
            handle.cancel()
    with pytest.raises(JobCancelled):
        await handle.result()
    assert seen_cancel_at
    assert 3 < seen_cancel_at[0] < 1000
    assert backend.free_slots() == 1


async def test_work_may_raise_job_cancelled(backend: ExecutionBackend) -> None:
    def work(ctx: WorkContext) -> None:
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.005)

    handle = backend.submit("r", work)
    await asyncio.sleep(0.05)
    assert not handle.done()
    handle.cancel()
    with pytest.raises(JobCancelled):
        await handle.result()


async def test_exceptions_propagate_and_are_logged(backend: ExecutionBackend, caplog: pytest.LogCaptureFixture) -> None:
    def work(ctx: WorkContext) -> None:
        ctx.report(1, 4)
        raise ValueError("boom")

    caplog.set_level(logging.ERROR, logger="engine.worker")
    handle = backend.submit("job-42", work)
    with pytest.raises(ValueError, match="boom"):
        await handle.result()
    assert any("job-42" in r.getMessage() and r.exc_info for r in caplog.records)
    # The worker survives a failing job.
    assert await backend.submit("next", lambda ctx: 1).result() == 1


async def test_loop_stays_responsive_while_work_blocks(backend: ExecutionBackend) -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(heartbeat())
    try:
        handle = backend.submit("block", lambda ctx: time.sleep(0.5))
        await handle.result()
    finally:
        task.cancel()
    # 0.5 s at 10 ms per tick is ~50 ticks; a blocked loop would give ~1.
    assert ticks >= 20


async def test_submit_after_shutdown_raises(make_backend: Callable[..., ExecutionBackend]) -> None:
    backend = make_backend()
    await backend.shutdown()
    assert backend.free_slots() == 0
    with pytest.raises(BackendClosed):
        backend.submit("late", lambda ctx: None)


async def test_shutdown_cancels_outstanding_work(make_backend: Callable[..., ExecutionBackend]) -> None:
    backend = make_backend(slots=2)
    started = threading.Event()
    ran_second = threading.Event()

    def running(ctx: WorkContext) -> None:
        started.set()
        while not ctx.cancelled():
            time.sleep(0.005)

    first = backend.submit("run", running)
    second = backend.submit("pending", lambda ctx: ran_second.set())
    await asyncio.to_thread(started.wait, 5)
    await asyncio.wait_for(backend.shutdown(), 5)
    for handle in (first, second):
        with pytest.raises(JobCancelled):
            await handle.result()
    assert not ran_second.is_set()
