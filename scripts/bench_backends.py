"""Throughput of the Ray backend with one worker against two, on the same mix of real generation jobs.

Each worker is a Ray actor with its own engine host (tiny models on a CPU machine, one torch thread each; the
real models on a GPU machine, one GPU each). The job mix alternates two base models, so base-model affinity
matters as it does on a busy server. Jobs are handed over only when a worker has a free slot, as the job service
does. Prints jobs/s for each worker count and the ratio.

Usage: PYTHONPATH=. python scripts/bench_backends.py [--jobs 24] [--workers 1,2] [--models tiny-sd,tiny-sdxl]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from functools import partial
from pathlib import Path

from engine.backends.ray_backend import RayBackend
from engine.catalog import ModelSpec, get_preset
from engine.host import EngineConfig, EngineHost
from engine.types import GenerateRequest
from engine.work import GenerateTask, WorkOrder


def _orders(count: int, models: list[str], out: Path, steps: int) -> list[WorkOrder]:
    orders = []
    for job_id in range(1, count + 1):
        spec = ModelSpec.from_preset(get_preset(models[job_id % len(models)]))
        request = GenerateRequest("a lighthouse at dusk", spec.name, count=4, seed=job_id, steps=steps)
        orders.append(WorkOrder(job_id, "generate", GenerateTask(request, spec), out_dir=out / str(job_id)))
    return orders


async def _run(backend: RayBackend, orders: list[WorkOrder]) -> float:
    """Seconds to run every order, handing one over whenever a slot is free (the job service's rule)."""
    pending, running = list(orders), set()
    started = time.perf_counter()
    while pending or running:
        while pending and backend.free_slots() > 0:
            handle = backend.submit(pending.pop(0))
            running.add(asyncio.ensure_future(handle.result()))
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a failed job stops the benchmark
    return time.perf_counter() - started


async def bench(jobs: int, worker_counts: list[int], models: list[str], steps: int) -> None:
    results: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = EngineConfig(device="auto", cache_dir=work / "models")
        for workers in worker_counts:
            backend = RayBackend(partial(EngineHost, config), workers=workers, logical_gpus=max(worker_counts))
            await asyncio.to_thread(backend.wait_ready)
            # Warm-up: each worker loads each model once, as a server that has run for a while has.
            await _run(backend, _orders(2 * workers * len(models), models, work / "warm", steps))
            seconds = await _run(backend, _orders(jobs, models, work / f"run{workers}", steps))
            results[workers] = jobs / seconds
            loads = sum(backend.loads.values())
            print(f"{workers} worker(s): {jobs} jobs in {seconds:.1f} s, {results[workers]:.2f} jobs/s ({loads} loads)")
            await backend.shutdown()
    if len(results) > 1:
        first, last = min(results), max(results)
        print(f"{last} workers against {first}: {results[last] / results[first]:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--models", default="tiny-sd,tiny-sdxl")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    asyncio.run(bench(args.jobs, counts, args.models.split(","), args.steps))


if __name__ == "__main__":
    main()
