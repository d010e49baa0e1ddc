"""Contract tests for any ExecutionBackend: each backend (thread, engine process, Ray) has its factory in BACKENDS.

Work goes in as `WorkOrder`s of plain data (scripted by `tests/engine/scripted.py`); gates between the
test and the work are files, so nothing here assumes the work runs in this process.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from engine.backends import (
    BackendClosed,
    ExecutionBackend,
    NoFreeSlot,
    OrderRunner,
    ProgressEvent,
    ThreadBackend,
)
from engine.errors import Cancelled
from tests.engine.scripted import ScriptHost, order, wait_for_file


def _ray(host: OrderRunner, slots: int) -> ExecutionBackend:
    from engine.backends.ray_backend import RayBackend

    # The runner is built inside the actor, from its class: the host given here stays in this process.
    backend = RayBackend(type(host), workers=1, slots=slots, logical_gpus=4)
    backend.wait_ready()  # a process starts first: the contract's timings are about the work, not that start
    return backend


def _process(host: OrderRunner, slots: int) -> ExecutionBackend:
    from engine.backends.process import ProcessBackend

    # As for Ray: the runner is built in the engine's process, and the contract's timings start once it is ready.
    backend = ProcessBackend(type(host), slots=slots)
    backend.wait_ready()
    return backend


BACKENDS: dict[str, Callable[[OrderRunner, int], ExecutionBackend]] = {
    "thread": lambda host, slots: ThreadBackend(host, slots=slots),
    "process": _process,
    "ray": _ray,
}


@pytest.fixture(params=sorted(BACKENDS))
async def make_backend(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., ExecutionBackend]]:
    """Build backends of the parametrised kind; each is shut down after the test."""
    created: list[ExecutionBackend] = []

    def factory(slots: int = 1) -> ExecutionBackend:
        backend = BACKENDS[request.param](ScriptHost(), slots)
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


async def test_returns_the_outcome(backend: ExecutionBackend) -> None:
    handle = backend.submit(order(1, ("value", "done 1")))
    assert handle.job_id == 1
    assert await handle.result() == "done 1"
    assert handle.done()


async def test_work_runs_off_the_event_loop_thread(backend: ExecutionBackend) -> None:
    import threading

    ident, _name, _pid = await backend.submit(order(1, ("where",))).result()
    assert ident != threading.get_ident()


async def test_free_slots_drop_while_busy_and_return_after(backend: ExecutionBackend, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    assert backend.free_slots() == 1
    handle = backend.submit(order(1, ("touch", str(started)), ("gate", str(release)), ("value", 7)))
    assert backend.free_slots() == 0
    assert await asyncio.to_thread(wait_for_file, started)
    assert backend.free_slots() == 0
    assert not handle.done()
    release.touch()
    assert await handle.result() == 7
    assert backend.free_slots() == 1


async def test_submit_without_a_free_slot_raises(backend: ExecutionBackend, tmp_path: Path) -> None:
    release = tmp_path / "release"
    handle = backend.submit(order(1, ("gate", str(release))))
    with pytest.raises(NoFreeSlot):
        backend.submit(order(2))
    release.touch()
    await handle.result()
    # The slot is usable again.
    assert await backend.submit(order(3, ("value", 3))).result() == 3


async def test_lanes_have_their_own_slots(backend: ExecutionBackend, tmp_path: Path) -> None:
    release = tmp_path / "release"
    batch = backend.submit(order(1, ("gate", str(release)), ("value", "trained")), "batch")
    assert backend.free_slots("batch") == 0
    assert backend.free_slots("interactive") == 1
    interactive = backend.submit(order(2, ("value", "image")), "interactive")
    release.touch()
    assert await interactive.result() == "image"
    assert await batch.result() == "trained"
    assert backend.free_slots("batch") == backend.free_slots("interactive") == 1


async def test_interactive_work_runs_at_a_batch_jobs_yield_point(backend: ExecutionBackend, tmp_path: Path) -> None:
    """A long batch job that yields between its steps does not hold an interactive job behind it."""
    started, interactive_done = tmp_path / "started", tmp_path / "interactive-done"
    steps = [("touch", str(started)), ("gate", str(tmp_path / "go"))]
    steps += [("yield",), ("sleep", 0.01)] * 60
    steps += [("value", "batch finished")]
    batch = backend.submit(order(1, *steps), "batch")
    assert await asyncio.to_thread(wait_for_file, started)
    interactive = backend.submit(order(2, ("touch", str(interactive_done)), ("value", "image")))
    (tmp_path / "go").touch()
    assert await interactive.result() == "image"
    assert not batch.done(), "the interactive job waited for the whole batch job"
    assert await batch.result() == "batch finished"


async def test_work_orders_and_outcomes_cross_a_process_boundary() -> None:
    from engine.catalog import ModelSpec, get_preset
    from engine.types import GenerateRequest, LoraSpec
    from engine.work import GenerateTask, WorkOrder

    spec = ModelSpec.from_preset(get_preset("tiny-sd"))
    request = GenerateRequest(
        prompt="a cat", model="tiny-sd", seed=3, loras=(LoraSpec("x", "/l/x.safetensors", "sd15"),)
    )
    work = WorkOrder(9, "generate", GenerateTask(request, spec), {"source": Path("/u/a.png")}, Path("/out/9"))
    copy = pickle.loads(pickle.dumps(work))
    assert copy == work
    assert copy.request.model.preset is spec.preset  # presets travel by id


async def test_progress_events_arrive_in_order_with_eta(backend: ExecutionBackend) -> None:
    total = 6
    handle = backend.submit(order(5, ("steps", total, 0.03)))
    events = [event async for event in handle.events()]
    assert await handle.result() == "ok"
    assert all(isinstance(e, ProgressEvent) and e.job_id == 5 and e.total == total for e in events)
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
    handle = backend.submit(order(1, ("steps", total, 0)))
    seen = []
    async for event in handle.events():
        seen.append(event.step)
        await asyncio.sleep(0.01)
    assert seen[-1] == total
    assert seen == sorted(set(seen))


async def test_cancel_before_start_never_runs(make_backend: Callable[..., ExecutionBackend], tmp_path: Path) -> None:
    backend = make_backend(slots=2)
    release, ran = tmp_path / "release", tmp_path / "ran"
    first = backend.submit(order(1, ("gate", str(release))))
    second = backend.submit(order(2, ("touch", str(ran))))
    second.cancel()
    release.touch()
    assert await first.result() is True
    with pytest.raises(Cancelled):
        await second.result()
    assert [e async for e in second.events()] == []
    assert backend.free_slots() == 2
    assert not ran.exists()


async def test_cancel_between_steps(backend: ExecutionBackend) -> None:
    start = time.monotonic()
    handle = backend.submit(order(1, ("cancellable", 1000, 0.005)))  # 5 s when nobody cancels
    last = 0
    async for event in handle.events():
        last = event.step
        if event.step >= 3:
            handle.cancel()
    with pytest.raises(Cancelled):  # the work returned early, so its result is partial: not an outcome
        await handle.result()
    assert 3 <= last < 1000
    assert time.monotonic() - start < 2.5
    assert backend.free_slots() == 1


async def test_work_may_raise_cancelled(backend: ExecutionBackend) -> None:
    handle = backend.submit(order(1, ("raise_when_cancelled",)))
    await asyncio.sleep(0.05)
    assert not handle.done()
    handle.cancel()
    with pytest.raises(Cancelled):
        await handle.result()


async def test_exceptions_propagate_and_are_logged(backend: ExecutionBackend, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="engine.backends")
    handle = backend.submit(order(42, ("report", 1, 4), ("fail", "boom")))
    with pytest.raises(ValueError, match="boom"):
        await handle.result()
    assert any("job_id=42" in r.getMessage() and r.exc_info for r in caplog.records)
    # The worker survives a failing job.
    assert await backend.submit(order(43, ("value", 1))).result() == 1


async def test_loop_stays_responsive_while_work_blocks(backend: ExecutionBackend) -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(heartbeat())
    try:
        await backend.submit(order(1, ("sleep", 0.5))).result()
    finally:
        task.cancel()
    # 0.5 s at 10 ms per tick is ~50 ticks; a blocked loop would give ~1.
    assert ticks >= 20


async def test_submit_after_shutdown_raises(make_backend: Callable[..., ExecutionBackend]) -> None:
    backend = make_backend()
    await backend.shutdown()
    assert backend.free_slots() == 0
    with pytest.raises(BackendClosed):
        backend.submit(order(1))


async def test_shutdown_cancels_outstanding_work(make_backend: Callable[..., ExecutionBackend], tmp_path: Path) -> None:
    backend = make_backend(slots=2)
    started, ran_second = tmp_path / "started", tmp_path / "ran"
    first = backend.submit(order(1, ("touch", str(started)), ("until_cancelled",)))
    second = backend.submit(order(2, ("touch", str(ran_second))))
    assert await asyncio.to_thread(wait_for_file, started)
    await asyncio.wait_for(backend.shutdown(), 5)
    for handle in (first, second):
        with pytest.raises(Cancelled):
            await handle.result()
    assert not ran_second.exists()


async def test_elapsed_is_reported_from_the_worker(backend: ExecutionBackend) -> None:
    start = time.monotonic()
    handle = backend.submit(order(1, ("sleep", 0.05), ("report", 1, 1)))
    events = [e async for e in handle.events()]
    await handle.result()
    assert events and 0.04 <= events[-1].elapsed_s <= time.monotonic() - start + 0.01


async def test_workers_describe_each_worker_with_its_jobs_and_models(backend: ExecutionBackend, tmp_path: Path) -> None:
    idle = await backend.workers()
    assert idle and all(w.alive and not w.busy and w.jobs == () for w in idle)
    assert len({w.name for w in idle}) == len(idle)  # names tell the workers apart
    assert all(w.device == "cpu" and w.gpu_memory_gb is None and w.precision == "fp32" for w in idle)
    started, release = tmp_path / "started", tmp_path / "release"
    running = backend.submit(order(5, ("touch", str(started)), ("gate", str(release), 30), model="sd15"))
    assert await asyncio.to_thread(wait_for_file, started, 30)
    busy = [w for w in await backend.workers() if w.busy]
    assert [w.jobs for w in busy] == [(5,)]
    release.touch()
    await asyncio.wait_for(running.result(), 30)
    after = await backend.workers()
    assert not any(w.busy or w.jobs for w in after)
    assert [w.loaded_models for w in after if w.name == busy[0].name] == [("sd15",)]  # what its host holds now
