"""Behaviour specific to ThreadBackend (the contract itself is in test_worker_contract.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.backends import ThreadBackend
from engine.errors import Cancelled
from engine.work import WorkOrder
from tests.engine.scripted import ScriptHost, order


@pytest.fixture
def host() -> ScriptHost:
    return ScriptHost()


@pytest.fixture
async def backend(host: ScriptHost) -> AsyncIterator[ThreadBackend]:
    b = ThreadBackend(host, slots=2)
    yield b
    await asyncio.wait_for(b.shutdown(), 5)


async def test_worker_is_a_named_daemon_thread(backend: ThreadBackend) -> None:
    ident, name, _pid = await backend.submit(order(1, ("where",))).result()
    assert name == backend.thread.name == "studio-gpu"
    assert backend.thread.daemon
    assert ident == backend.thread.ident


async def test_all_work_runs_on_one_non_main_thread(backend: ThreadBackend) -> None:
    idents = set()
    for i in range(4):
        idents.add((await backend.submit(order(i, ("where",)), "batch" if i % 2 else "interactive").result())[0])
    assert len(idents) == 1
    assert threading.main_thread().ident not in idents


async def test_shutdown_joins_the_thread(host: ScriptHost) -> None:
    b = ThreadBackend(host)
    assert b.thread.is_alive()
    await asyncio.wait_for(b.shutdown(), 5)
    assert not b.thread.is_alive()
    await b.shutdown()  # idempotent


async def test_rejects_zero_slots(host: ScriptHost) -> None:
    with pytest.raises(ValueError, match="slots"):
        ThreadBackend(host, slots=0)
    with pytest.raises(ValueError, match="slots"):
        ThreadBackend(host, batch_slots=0)


async def test_slow_consumer_gets_coalesced_progress(backend: ThreadBackend) -> None:
    total = 5000
    handle = backend.submit(order(1, ("steps", total, 0)))
    seen = []
    async for event in handle.events():
        seen.append(event.step)
        await asyncio.sleep(0.005)
    assert seen[-1] == total
    assert len(seen) < total / 10


async def test_cancelling_a_pending_job_frees_its_slot_at_once(backend: ThreadBackend, tmp_path: Path) -> None:
    release = tmp_path / "release"
    first = backend.submit(order(1, ("gate", str(release))))
    second = backend.submit(order(2))
    assert backend.free_slots() == 0
    second.cancel()
    assert backend.free_slots() == 1
    with pytest.raises(Cancelled):
        await second.result()
    assert not first.done()
    release.touch()
    await first.result()


async def test_events_after_the_job_ended_yield_the_last_one(backend: ThreadBackend) -> None:
    handle = backend.submit(order(1, ("report", 1, 3), ("report", 2, 3), ("report", 3, 3)))
    await handle.result()
    assert [e.step for e in [e async for e in handle.events()]] == [3]


async def test_report_rejects_nonsense_progress(backend: ThreadBackend) -> None:
    handle = backend.submit(order(1, ("report", 5, 3)))
    with pytest.raises(ValueError, match="step <= total"):
        await handle.result()


async def test_cancel_is_safe_from_another_thread(backend: ThreadBackend) -> None:
    handle = backend.submit(order(1, ("until_cancelled",)))
    await asyncio.sleep(0.02)
    await asyncio.to_thread(handle.cancel)
    with pytest.raises(Cancelled):
        await asyncio.wait_for(handle.result(), 5)


async def test_interactive_jobs_go_first_when_both_lanes_wait(
    backend: ThreadBackend, host: ScriptHost, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    blocker = backend.submit(order(1, ("gate", str(release))))
    batch = backend.submit(order(2, ("value", "b")), "batch")
    interactive = backend.submit(order(3, ("value", "i")))  # submitted after the batch job, runs before it
    release.touch()
    assert await interactive.result() == "i"
    assert await batch.result() == "b"
    await blocker.result()
    assert host.ran == [1, 3, 2]


async def test_a_yield_outside_a_batch_job_is_a_no_op(backend: ThreadBackend) -> None:
    start = time.monotonic()
    assert await backend.submit(order(1, ("yield",), ("value", 1))).result() == 1
    assert time.monotonic() - start < 2


def test_the_train_task_fits_its_plan_to_the_worker_it_runs_on() -> None:
    from dataclasses import replace

    from engine.catalog import ModelSpec, get_preset
    from engine.errors import InvalidRequest
    from engine.tasks.train import fitted
    from engine.training.autoconfig import plan_training
    from engine.training.types import TrainTask
    from tests.engine.scripted import ScriptHost

    class Small(ScriptHost):
        GPU = ("RTX 3060", 12.0)

    def planned(model: str, **overrides: object) -> TrainTask:
        preset = get_preset(model)
        config = plan_training(preset, images=25, overrides=overrides, gpu_gb=80.0, precision="bf16").config
        return TrainTask(ModelSpec.from_preset(preset), (), config, Path("run"), "job_1", "out")

    big_sd = planned("sd15", resolution=1024)
    on_small = fitted(big_sd, Small(), 1)
    assert on_small.config.gradient_checkpointing and on_small == replace(big_sd, config=on_small.config)
    with pytest.raises(InvalidRequest, match=r"this worker \(RTX 3060, 12 GB\) has 11\.0 GB"):
        fitted(planned("flux-dev"), Small(), 2)


async def test_the_host_describes_its_device_and_the_models_its_last_order_left() -> None:
    from engine.host import EngineConfig, EngineHost

    class Manager:
        loaded_models = ("sd15", "sdxl")  # least recently used first, as the pipeline cache lists them

    host = EngineHost(EngineConfig(device="cpu"), manager_factory=Manager, tasks={"load": lambda o, c, h: h.manager()})
    backend = ThreadBackend(host)
    try:
        (before,) = await backend.workers()
        assert (before.name, before.device, before.gpu_name, before.gpu_memory_gb) == ("local", "cpu", None, None)
        assert before.precision == "fp32" and before.loaded_models == () and before.alive
        await backend.submit(WorkOrder(1, "load", None)).result()
        (after,) = await backend.workers()
        assert after.loaded_models == ("sdxl", "sd15")  # most recently used first
    finally:
        await backend.shutdown()
