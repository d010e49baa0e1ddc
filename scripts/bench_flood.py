"""How fast the bot defers a flood of slash commands, with a tiny LoRA training running and without.

The real bot and the real services on the fake Discord the tests use (`tests/bot/fakediscord/`), the engine on the
tiny models on the backend named: `thread` (the engine's thread in the bot's process), `process` (the default: an
engine process of its own) or `ray` (one local Ray actor). For each backend and each scenario (`idle`: the engine
waits; `training`: a LoRA training on tiny-sd has run a few steps), `--commands` /generate commands from `--members`
members are dispatched at once, `--rounds` times, and the time from each dispatch to its deferral (the interaction
callback the fake records) is reported: p50, p99 and max over every command of every round. Discord's limit is 3 s.

torch uses its default threads (one per core) unless OMP_NUM_THREADS says otherwise, as a bot on a CPU machine does.

Usage: PYTHONPATH=. python scripts/bench_flood.py [--backends thread,process] [--commands 200] [--members 50]
       [--rounds 3] [--steps 400] [--spread-ms 0] [--scenarios idle,training]
       [--backlog 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord
import numpy as np
from PIL import Image

from bot.runner import build_bot
from studio.container import Services, open_services
from studio.contract import Caller
from studio.logging_setup import setup_logging
from studio.settings import Settings, load_settings
from studio.training.api import TrainOverrides
from tests.bot.fakediscord import BASIC_PERMISSIONS, CHANNEL_ID, GUILD_ID, FakeDiscord

MANAGER = Caller(user_id=1, guild_id=GUILD_ID, channel_id=CHANNEL_ID, may_manage_server=True, may_moderate=True)


def _images(count: int) -> list[bytes]:
    """Small PNGs of one 'character' (a warm disc on a cool ground), made here so that this process needs no torch."""
    found = []
    for i in range(count):
        yy, xx = np.mgrid[:64, :64]
        disc = (yy - 32) ** 2 + (xx - 30 - 2 * i) ** 2 < 18**2
        pixels = np.where(disc[..., None], [230, 140, 60], [40, 70, 160]).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        found.append(buffer.getvalue())
    return found


async def idle(services: Services, limit_s: float) -> None:
    """Until no job is queued or running (the captions a set's images start)."""
    deadline = time.monotonic() + limit_s
    while [*await services.db.jobs.list_running(), *await services.db.jobs.fair_queue()]:
        if time.monotonic() > deadline:
            raise TimeoutError("jobs still running")
        await asyncio.sleep(0.2)


async def drop_generations(services: Services) -> None:
    """Cancel the generations a flood queued, so that every round meets the same engine (idle, or training)."""
    for job in [*await services.db.jobs.list_running(), *await services.db.jobs.fair_queue()]:
        if job.kind == "generate":
            with contextlib.suppress(Exception):  # it ended meanwhile
                await services.jobs.cancel(MANAGER, job.id)
    deadline = time.monotonic() + 60
    while [j for j in await services.db.jobs.list_running() if j.kind == "generate"]:
        if time.monotonic() > deadline:
            raise TimeoutError("a cancelled generation is still running")
        await asyncio.sleep(0.1)


async def _start_training(services: Services, steps: int) -> int:
    """A training on four images, running: returns its job once it has reported two steps."""
    await services.db.guild_settings.update(GUILD_ID, min_training_images=4)
    await services.trainsets.create(MANAGER, "flood", trigger_word="zzflood")
    for data in _images(4):
        await services.trainsets.add(MANAGER, data, "flood")
    await idle(services, 300)
    plan = await services.training.plan(MANAGER, "flood", "Flood", TrainOverrides(steps=steps))
    ticket = await services.training.start(MANAGER, plan.run_id)
    deadline = time.monotonic() + 300
    while services.jobs.last_step(ticket.job_id) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the training reported no steps")
        await asyncio.sleep(0.1)
    return ticket.job_id


async def flood(fake: FakeDiscord, commands: int, members: int, spread_s: float = 0) -> list[float]:
    """Dispatch the commands at once (or one every `spread_s`); each one's seconds from its dispatch to its deferral.

    The payloads are built first (the fake checks each against the command tree, which takes time that Discord's
    gateway would not add), then dispatched back to back, as a burst of gateway events arrives.
    """
    assert fake.bot is not None
    sent = []
    for n in range(commands):
        values = {"prompt": f"a lighthouse {n}", "steps": 2, "model": "tiny-sd"}
        data = fake._options(fake.bot, "generate", values, None, True)
        sent.append(
            fake._base(2, data, user_id=10_000 + n % members, permissions=BASIC_PERMISSIONS, roles=(), message=None)
        )
    for state in sent:
        fake._dispatch(state, None)
        if spread_s:
            await asyncio.sleep(spread_s)
    with contextlib.suppress(AssertionError):  # one answered after Discord's 3 s is refused: it never gets one
        await fake.wait_for(lambda: all(ix.callback_at is not None for ix in sent), within=60)
    late = [ix for ix in sent if ix.callback_at is None]
    if late:
        print(f"{len(late)} of {commands} never deferred; the fake saw: {fake.problems[-3:]}", file=sys.stderr)
    # Every command has its answer (queued, or refused) before the next round, or the services close.
    with contextlib.suppress(AssertionError):
        await fake.wait_for(lambda: not fake.hanging(), within=120)
    return [ix.callback_at - ix.dispatched_at if ix.callback_at is not None else float("inf") for ix in sent]


def flood_settings(tmp: Path, backend: str) -> Settings:
    """The studio on the tiny models, its data in `tmp`, its engine on `backend`."""
    return load_settings(
        env_file=None,
        STUDIO_DATA_DIR=tmp / "data",
        STUDIO_DEVICE="cpu",
        STUDIO_DEFAULT_MODEL="tiny-sd",
        STUDIO_CAPTIONER="tiny-blip",
        STUDIO_EMBEDDER="tiny-clip",
        STUDIO_BACKEND=backend,
    )


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, backlog: int, beside: Callable[[Services], None] | None = None
) -> AsyncIterator[tuple[FakeDiscord, Services, float]]:
    """The bot logged in to the fake Discord, its services' jobs running, one command handled (the code paths warm,
    the model in memory as in a busy studio): the fake, the services and the seconds the engine took to be ready.

    `beside` is given the services before the jobs start (where the web registers its delivery port)."""
    fake = FakeDiscord()
    await fake.start(backlog=backlog)
    discord.http.Route.BASE = fake.base_url  # type: ignore[misc]
    started = time.perf_counter()
    async with open_services(settings) as services:
        ready = getattr(services.backend, "ready", None)
        if callable(ready):
            await ready()
        ready_s = time.perf_counter() - started
        bot = build_bot(settings, services)
        async with bot:
            await bot.login("fake-token")
            fake.attach(bot)
            if beside is not None:
                beside(services)
            await services.jobs.start()
            await flood(fake, 1, 1)
            await idle(services, 300)
            try:
                yield fake, services, ready_s
            finally:
                await services.jobs.stop()  # before the bot's session closes: no delivery into a closed session
    await fake.stop()


def summary(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max of the defer times, in ms."""
    ms = sorted(s * 1000 for s in seconds)
    return {"n": len(ms), "p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
            "max": ms[-1]}  # fmt: skip


async def scenario(backend: str, training: bool, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_bot(flood_settings(Path(tmp), backend), args.backlog) as (fake, services, ready_s):
            if training:
                job = await _start_training(services, args.steps)
            seconds: list[float] = []
            for _ in range(args.rounds):
                cpu = time.process_time()
                seconds += await flood(fake, args.commands, args.members, args.spread_ms / 1000)
                spent = (time.process_time() - cpu) * 1000 / args.commands
                print(f"  {backend}: this process's CPU, per command handled: {spent:.1f} ms", file=sys.stderr)
                await drop_generations(services)
                await asyncio.sleep(1)
            row = await services.db.jobs.get(job) if training else None
            still = row is not None and row.status == "running"
    return {
        "backend": backend,
        "scenario": "training" if training else "idle",
        **summary(seconds),
        "ready_s": ready_s,
        "trained_throughout": still if training else None,
    }


async def main(args: argparse.Namespace) -> None:
    when = f"one every {args.spread_ms:g} ms" if args.spread_ms else "at once"
    print(f"{args.commands} /generate from {args.members} members {when}, {args.rounds} rounds; defer time in ms")
    print("| backend | engine | p50 | p99 | max | engine ready in |")
    print("| --- | --- | --- | --- | --- | --- |")
    for backend in args.backends.split(","):
        for training in [name == "training" for name in args.scenarios.split(",")]:
            row = await scenario(backend, training, args)
            note = "" if row["trained_throughout"] in (None, True) else " (the training ended before the flood did)"
            print(
                f"| {row['backend']} | {row['scenario']}{note} | {row['p50']:.1f} | {row['p99']:.1f} | "
                f"{row['max']:.1f} | {row['ready_s']:.2f} s |",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="thread,process", help="comma-separated: thread, process, ray")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spread-ms", type=float, default=0, help="one command every N ms instead of all at once")
    parser.add_argument(
        "--backlog",
        type=int,
        default=1024,
        help="the fake's listening backlog: aiohttp's 128 drops the SYNs of a burst's newest connections",
    )
    parser.add_argument("--scenarios", default="idle,training", help="comma-separated: idle, training")
    parser.add_argument("--steps", type=int, default=400, help="the training's steps: enough to outlast the floods")
    setup_logging("WARNING")  # as the bot does: the chatty libraries quieted, in the engine's process too
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
