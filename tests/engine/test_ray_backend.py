"""What the Ray backend adds to the contract (tests/engine/test_worker_contract.py runs that on both backends):
a worker that dies fails its job as a lost worker and is replaced, and jobs go where their base model is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.backends import WorkerLost
from tests.engine.scripted import ScriptHost, order, wait_for_file

ray = pytest.importorskip("ray")


@pytest.fixture
async def two_workers() -> AsyncIterator:
    from engine.backends.ray_backend import RayBackend

    backend = RayBackend(ScriptHost, workers=2, logical_gpus=4)
    yield backend
    await asyncio.wait_for(backend.shutdown(), 15)


async def test_a_worker_that_dies_fails_its_job_as_lost_and_is_replaced(two_workers, tmp_path: Path) -> None:
    backend = two_workers
    started = tmp_path / "started"
    doomed = backend.submit(order(1, ("touch", str(started)), ("sleep", 0.2), ("exit",)))
    assert await asyncio.to_thread(wait_for_file, started, 30)
    with pytest.raises(WorkerLost, match="died while running job 1"):
        await asyncio.wait_for(doomed.result(), 60)
    assert backend.free_slots() == 2  # its slot is free again, on a new worker
    # The job service retries it: on a fresh actor, the same order runs to the end.
    again = backend.submit(order(1, ("value", "done")))
    assert await asyncio.wait_for(again.result(), 60) == "done"


async def test_jobs_go_to_the_worker_that_holds_their_base_model(two_workers) -> None:
    backend = two_workers
    placed = []
    for job_id, model in enumerate(["sd15", "sdxl", "sd15", "sdxl", "sd15", "sdxl"], start=1):
        handle = backend.submit(order(job_id, ("loads",), model=model))
        placed.append(await asyncio.wait_for(handle.result(), 60))
    by_pid: dict[int, list[str]] = {}
    for pid, loaded in placed:
        by_pid[pid] = loaded
    # Two workers, each loaded one base model once: six jobs, two loads (one worker alone would load six times).
    assert sorted(map(tuple, by_pid.values())) == [("sd15",), ("sdxl",)]
    assert sum(backend.loads.values()) == 2
    assert sorted(w.loaded_models[0] for w in await backend.workers()) == ["sd15", "sdxl"]


async def test_studio_workers_lists_each_worker_with_its_models_and_jobs(two_workers, tmp_path: Path) -> None:
    from cli.commands.workers_cmd import worker_line
    from engine.backends.ray_backend import worker_statuses

    backend = two_workers
    started, release = tmp_path / "started", tmp_path / "release"
    running = backend.submit(order(7, ("touch", str(started)), ("gate", str(release), 30)))
    assert await asyncio.to_thread(wait_for_file, started, 30)
    # From another process's view (`studio workers`): the actors describe themselves.
    statuses = await asyncio.to_thread(worker_statuses)
    pids = {f"pid {pid}," for pid in await asyncio.to_thread(backend.wait_ready)}
    mine = [w for w in statuses if any(pid in w.where for pid in pids)]
    assert len(mine) == 2 and sorted(w.jobs for w in mine) == [(), (7,)]
    assert all(", GPU " in w.where and w.device == "cpu" for w in mine)  # each pinned to its (logical) GPU
    # The backend's own view agrees, worker by worker.
    assert sorted((w.name, w.jobs) for w in await backend.workers()) == sorted((w.name, w.jobs) for w in mine)
    lines = [worker_line(w, {7: "script"}) for w in mine]
    assert any(line.endswith("job 7 (script)") for line in lines) and any(line.endswith("idle") for line in lines)
    release.touch()
    await asyncio.wait_for(running.result(), 30)


async def test_a_training_pins_its_worker_and_generations_go_to_the_other(two_workers, tmp_path: Path) -> None:
    backend = two_workers
    started, release = tmp_path / "started", tmp_path / "release"
    warm_pid, _ = await backend.submit(order(1, ("loads",), model="sd15")).result()  # one worker holds sd15
    # The training needs sd15 too: it goes where sd15 is, and holds that worker for its run.
    steps = (("touch", str(started)), ("gate", str(release), 60), ("where",))
    training = backend.submit(order(2, *steps, model="sd15"), "batch")
    assert await asyncio.to_thread(wait_for_file, started, 30)
    # A generation on sd15 now goes to the other worker (which loads sd15), not behind the training.
    generated_pid, loaded = await asyncio.wait_for(backend.submit(order(3, ("loads",), model="sd15")).result(), 60)
    assert generated_pid != warm_pid and loaded == ["sd15"]
    release.touch()
    assert (await asyncio.wait_for(training.result(), 30))[2] == warm_pid


async def test_a_worker_that_does_not_answer_is_listed_as_not_alive(two_workers, tmp_path: Path) -> None:
    import ray

    backend = two_workers
    dead = backend._slots[0]
    ray.kill(dead.actor)
    listed = {w.name: w for w in await backend.workers(limit_s=30)}
    assert listed[dead.name].alive is False and listed[dead.name].device == "unknown"
    assert [w.alive for name, w in listed.items() if name != dead.name] == [True]
