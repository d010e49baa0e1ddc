"""How long a local backend takes to start: the engine process (`process`) against Ray's local mode (`ray`).

Each try runs in a fresh Python process (Ray starts once per process), timing from the backend's construction to:
`ready` (the worker has built its runner), `first job` (a trivial order's outcome is back), `device` (the worker
has loaded torch and answered what device it runs on: what a training plan needs), and the `shutdown`. The runner
is the real engine host (`engine.host.EngineHost`, nothing loaded until a job needs it); the trivial order is a
task registered for this benchmark. Tries alternate between the backends so that the machine's load hits both.

Usage: PYTHONPATH=. python scripts/bench_backend_start.py [--tries 3] [--backends process,ray]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from engine.host import EngineConfig, EngineHost
from engine.work import WorkOrder

ROOT = Path(__file__).resolve().parents[1]


def _echo(order: WorkOrder, ctx: object, host: object) -> int:
    return os.getpid()


class Host(EngineHost):
    """The engine host with one more task: `echo`, which answers the worker's process id."""

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.register_task("echo", _echo)


async def _process() -> dict[str, float]:
    from bench_backend_start import Host  # by its module's name, not __main__: the worker imports it from there

    from engine.backends.process import ProcessBackend

    start = time.perf_counter()
    backend = ProcessBackend(partial(Host, EngineConfig(device="cpu")))
    await backend.ready()
    ready = time.perf_counter() - start
    await backend.submit(WorkOrder(1, "echo", None)).result()
    first = time.perf_counter() - start
    await backend.workers()
    device = time.perf_counter() - start
    stop = time.perf_counter()
    await backend.shutdown()
    return {"ready": ready, "first job": first, "device": device, "shutdown": time.perf_counter() - stop}


async def _ray() -> dict[str, float]:
    import ray
    from bench_backend_start import Host

    from engine.backends.ray_backend import RayBackend, worker_statuses

    start = time.perf_counter()
    backend = RayBackend(partial(Host, EngineConfig(device="cpu")), workers=1)
    await asyncio.to_thread(backend.wait_ready)
    ready = time.perf_counter() - start
    await backend.submit(WorkOrder(1, "echo", None)).result()
    first = time.perf_counter() - start
    await asyncio.to_thread(worker_statuses)  # imports torch in the actor: its device
    device = time.perf_counter() - start
    stop = time.perf_counter()
    await backend.shutdown()
    ray.shutdown()  # a bot that stops takes Ray's local processes down with it
    return {"ready": ready, "first job": first, "device": device, "shutdown": time.perf_counter() - stop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--backends", default="process,ray")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one try, in this process: the parent's child
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(_process() if args.one == "process" else _ray())))
        return
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    found: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.tries):
        for backend in args.backends.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--one", backend], env=env, capture_output=True, text=True, check=True
            )
            found.setdefault(backend, []).append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"median of {args.tries} tries, seconds from the backend's construction")
    print("| backend | ready | first job | device known | shutdown |")
    print("| --- | --- | --- | --- | --- |")
    for backend, tries in found.items():
        cells = [statistics.median(t[key] for t in tries) for key in ("ready", "first job", "device", "shutdown")]
        print(f"| {backend} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
