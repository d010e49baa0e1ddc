"""How fast the bot defers slash commands while the same process serves the web studio a saturating load.

The real bot and services on the fake Discord (`tests/bot/fakediscord/`, as `bench_flood.py` runs them), with the
web studio attached to the same services and event loop (`web.runner.attach_web`, as `studio run` does when
STUDIO_WEB_PORT is set). One tiny-sd image is made first, so that the web has files to serve. Then, per run and
arrival pattern (`--spreads`: one /generate every N ms; 0 = all in one instant), `--commands` /generate from
`--members` members are dispatched `--rounds` times, once with no web traffic and once while `bench_web.py`'s load
client (a process of its own: authenticated GETs of JSON, the PNG and its thumbnail, `--concurrency` at a time)
keeps the web saturated. Each row: time from dispatch to deferral, p50/p99/max over the run's commands, and the
web's requests/s while the floods ran. Discord's limit is 3 s; the goal (issue 21) is p99 < 50 ms.

Usage: PYTHONPATH=. python scripts/bench_web_interactions.py [--backend process] [--commands 200] [--members 50]
       [--rounds 2] [--spreads 10,0] [--concurrency 50] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from bench_flood import drop_generations, flood, flood_settings, running_bot, summary  # beside this script
from bench_web import Load, media_paths

from studio.container import Services
from studio.logging_setup import setup_logging
from tests.bot.fakediscord import FakeDiscord
from web.auth import read_token
from web.runner import attach_web
from web.server import WebServer

LOAD_REQUESTS = 10**9  # the load runs until it is stopped


async def measure(
    fake: FakeDiscord, services: Services, load: Load | None, spread_ms: float, args: argparse.Namespace
) -> tuple[list[float], dict[str, float] | None]:
    """One run: `--rounds` floods, with the load running throughout when one is given. Defer seconds, load figures."""
    if load is not None:
        await load.start()
    seconds: list[float] = []
    cpu = time.process_time()
    for n in range(args.rounds):
        if n:
            await drop_generations(services)
        seconds += await flood(fake, args.commands, args.members, spread_ms / 1000)
    spent = (time.process_time() - cpu) * 1000 / (args.commands * args.rounds)
    figures = await load.finish(stop=True) if load is not None else None
    await drop_generations(services)
    print(f"  this process's CPU per command (and its share of the web's work): {spent:.1f} ms", file=sys.stderr)
    return seconds, figures


async def main(args: argparse.Namespace) -> None:
    spreads = [float(x) for x in args.spreads.split(",")]
    print(
        f"{args.commands} /generate from {args.members} members, {args.rounds} rounds per row, backend "
        f"{args.backend}; web load {args.concurrency} at a time; defer time in ms"
    )
    print("| arrival | web load | p50 | p99 | max | web req/s | web failed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        settings = flood_settings(Path(tmp), args.backend)
        servers: list[WebServer] = []

        def beside(services: Services) -> None:  # the web's delivery port registers before the jobs start
            servers.append(attach_web(services, settings, "127.0.0.1", 0))

        async with running_bot(settings, args.backlog, beside) as (fake, services, _ready):
            (server,) = servers
            paths = await media_paths(services)
            assert await server.start(), "the web did not start"
            url, token = f"http://127.0.0.1:{server.port}", read_token(settings.data_dir)
            try:
                for _ in range(args.repeats):
                    for spread in spreads:
                        for loaded in (False, True):
                            load = Load(url, token, paths, LOAD_REQUESTS, args.concurrency) if loaded else None
                            seconds, web = await measure(fake, services, load, spread, args)
                            row = summary(seconds)
                            arrival = f"one every {spread:g} ms" if spread else "all at once"
                            rate = f"{web['done'] / web['seconds']:.0f} | {web['failed']:.0f}" if web else "– | –"
                            print(
                                f"| {arrival} | {f'{args.concurrency} at a time' if loaded else 'none'} | "
                                f"{row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.1f} | {rate} |",
                                flush=True,
                            )
                            await asyncio.sleep(1)
            finally:
                await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="process", help="thread, process or ray")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--spreads", default="10,0", help="comma-separated ms between commands; 0: all at once")
    parser.add_argument("--concurrency", type=int, default=50, help="the web load's requests at a time")
    parser.add_argument("--repeats", type=int, default=2, help="runs of every configuration, interleaved")
    parser.add_argument("--backlog", type=int, default=1024, help="the fake Discord's listening backlog")
    setup_logging("WARNING")
    started = time.perf_counter()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
    print(f"({time.perf_counter() - started:.0f} s in all)")
