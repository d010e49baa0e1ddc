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

from studio.container import open_services
from studio.contract import Caller
from studio.gallery.api import Viewer
from studio.images.api import GenerateInput
from studio.settings import load_settings
from web.auth import read_token
from web.runner import attach_web

HEARTBEAT_S = 0.02
OWNER = Caller(user_id=0, may_moderate=True, may_manage_server=True, bypasses_server_policy=True, origin="cli")

LOAD = """
import asyncio, json, sys, time, httpx
base, token, paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
total, concurrency = int(sys.argv[4]), int(sys.argv[5])
async def main():
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer " + token}, limits=limits) as c:
        left = iter(range(total)); failed = 0
        async def worker():
            nonlocal failed
            for n in left:
                r = await c.get(paths[n % len(paths)])
                failed += r.status_code != 200
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(json.dumps({"seconds": time.perf_counter() - started, "failed": failed}))
asyncio.run(main())
"""


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
            ticket = await services.generate.submit(OWNER, GenerateInput("a red cube", count=1, steps=2))
            await services.jobs.wait(ticket.job_id, 600)
            (image,) = (await services.gallery.job_result(Viewer(OWNER), ticket.job_id)).images
            assert await server.start()
            paths = [
                "/api/models",
                f"/api/generate/{ticket.job_id}",
                "/api/queue",
                f"/media/images/{image.image_id}",
                f"/media/images/{image.image_id}/thumb",
            ]
            lateness: list[float] = []
            stop = asyncio.Event()
            beating = asyncio.create_task(heartbeat(lateness, stop))
            argv = [sys.executable, "-c", LOAD, f"http://127.0.0.1:{server.port}", read_token(settings.data_dir)]
            argv += [json.dumps(paths), str(requests), str(concurrency)]
            load = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await load.communicate()
            stop.set()
            await beating
            await server.stop()
    if load.returncode != 0:
        raise SystemExit(f"the load client failed: {err.decode(errors='replace')[-2000:]}")
    result = json.loads(out)
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
