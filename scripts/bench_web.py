"""The web studio under load: API requests/s, and how late a bot's heartbeat runs on the same event loop meanwhile.

The services and the web run here, on tiny-sd on the CPU (one image made first, so that image and thumbnail
requests have a file to serve); a 20 ms heartbeat coroutine stands in for the Discord gateway. A load client in a
process of its own sends `--requests` requests, `--concurrency` at a time, a mix of JSON (models, job status,
queue) and files (the full PNG and its WebP thumbnail), with the access token as a Bearer header.

    PYTHONPATH=. .venv/bin/python scripts/bench_web.py --requests 2000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.container import Services, open_services
from studio.contract import Caller
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput
from studio.settings import load_settings
from web.auth import read_token
from web.runner import attach_web

HEARTBEAT_S = 0.02
OWNER = Caller(user_id=0, may_moderate=True, may_manage_server=True, bypasses_server_policy=True, origin="cli")

LOAD = """
import asyncio, json, signal, sys, time, httpx
base, token, paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
total, concurrency = int(sys.argv[4]), int(sys.argv[5])
async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer " + token}, limits=limits) as c:
        left = iter(range(total)); done = failed = 0
        async def worker():
            nonlocal done, failed
            for n in left:
                if stop.is_set():
                    break
                try:
                    r = await c.get(paths[n % len(paths)])
                    failed += r.status_code != 200
                except httpx.TransportError as exc:  # a dropped connection is a failed request, not the end
                    failed += 1
                    print(repr(exc), file=sys.stderr)
                done += 1
                if done == 1:
                    print("serving", flush=True)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(json.dumps({"seconds": time.perf_counter() - started, "done": done, "failed": failed}))
asyncio.run(main())
"""


class Load:
    """The load client in a process of its own: `start` returns once the web has answered its first request;
    `finish` (after `total` requests, or at once when `stop` is true) returns its figures: seconds, done, failed."""

    def __init__(self, url: str, token: str, paths: list[str], total: int, concurrency: int) -> None:
        self.argv = [sys.executable, "-c", LOAD, url, token, json.dumps(paths), str(total), str(concurrency)]
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(*self.argv, stdout=subprocess.PIPE)  # its stderr: ours
        assert self.process.stdout is not None
        await self.process.stdout.readline()  # "serving", or nothing when it failed: `finish` says why

    async def finish(self, stop: bool = False) -> dict[str, float]:
        assert self.process is not None
        if stop and self.process.returncode is None:
            self.process.terminate()  # its handler ends the workers: the figures still come
        out, _ = await self.process.communicate()
        if self.process.returncode != 0:
            raise SystemExit(f"the load client failed (exit {self.process.returncode}): its error is above")
        return dict(json.loads(out.splitlines()[-1]))


async def media_paths(services: Services) -> list[str]:
    """One tiny image made (the engine's first job), and the paths of the load's mix: JSON and the image's files."""
    ticket = await services.generate.submit(OWNER, GenerateInput("a red cube", count=1, steps=2))
    await services.jobs.wait(ticket.job_id, 600)
    (image,) = (await services.gallery.job_result(Viewer(OWNER), ticket.job_id)).images
    return [
        "/api/models",
        f"/api/generate/{ticket.job_id}",
        "/api/queue",
        f"/media/images/{image.image_id}",
        f"/media/images/{image.image_id}/thumb",
    ]


async def heartbeat(lateness: list[float], stop: asyncio.Event) -> None:
    """Wake every HEARTBEAT_S and record how late each wake-up was (what a gateway's handlers would feel)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + HEARTBEAT_S
        await asyncio.sleep(HEARTBEAT_S)
        lateness.append(loop.time() - due)


async def main(requests: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env_file=None, STUDIO_DATA_DIR=Path(tmp), STUDIO_BACKEND="thread")
        async with open_services(settings, owner="bench") as services:
            server = attach_web(services, settings, "127.0.0.1", 0)
            await services.jobs.start()
            paths = await media_paths(services)
            assert await server.start()
            lateness: list[float] = []
            stop = asyncio.Event()
            beating = asyncio.create_task(heartbeat(lateness, stop))
            load = Load(f"http://127.0.0.1:{server.port}", read_token(settings.data_dir), paths, requests, concurrency)
            await load.start()
            result = await load.finish()
            stop.set()
            await beating
            await server.stop()
    late_ms = sorted(x * 1000 for x in lateness)
    p99 = late_ms[min(len(late_ms) - 1, int(len(late_ms) * 0.99))]
    rate = requests / result["seconds"]
    print(
        f"{requests} requests ({len(paths)} kinds, {concurrency} at a time): {rate:.0f} req/s, "
        f"{result['failed']} failed"
    )
    print(f"heartbeat every {HEARTBEAT_S * 1000:.0f} ms, late by: p50 {statistics.median(late_ms):.1f} ms, "
          f"p99 {p99:.1f} ms, max {late_ms[-1]:.1f} ms ({len(late_ms)} beats)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(args.requests, args.concurrency))
    print(f"({time.perf_counter() - started:.0f} s in all)")
