"""How long the gallery's queries take on a large archive: a page of one's own images, of a server's, a prompt search.

Builds a database of `--images` images (4 a job, from 50 members in 2 servers, half of them posted in one of 10
channels, a tenth spoilered), then times, each the median of `--repeats` runs on one connection:
- `mine`: a member's first page, and a page deep in their history (keyset: `before_id`);
- `server`: a member's first page of their server, seeing 5 of its 10 channels;
- `search`: a trigram search for a substring (FTS5) and for a 2-letter word (LIKE), in the server scope;
- `detail`: one image's access check.

Usage: PYTHONPATH=. python scripts/bench_gallery.py [--images 40000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from storage import Database, open_database
from studio.contract import Caller
from studio.gallery.api import ImageFilter, Viewer
from studio.gallery.service import GalleryService
from studio.images.api import JobResult

WORDS = [
    "red",
    "blue",
    "lighthouse",
    "castle",
    "boat",
    "fox",
    "cat",
    "dog",
    "forest",
    "city",
    "night",
    "dusk",
    "storm",
    "sea",
    "hill",
    "tower",
    "garden",
]
GUILDS = (100, 200)


async def _fill(db: Database, images: int) -> None:
    rng = random.Random(1)
    now = "2026-01-01T00:00:00.000000+00:00"
    async with db.transaction():
        for job_id in range(1, images // 4 + 1):
            guild = GUILDS[job_id % 2]
            spoiler = "true" if job_id % 10 == 0 else "false"
            await db.execute(
                "INSERT INTO jobs (id, kind, status, request, requester_id, guild_id, created_at)"
                " VALUES (?, 'generate', 'done', ?, ?, ?, ?)",
                (job_id, f'{{"spoiler": {spoiler}}}', rng.randrange(1, 51), guild, now),
            )
            ids = []
            for idx in range(4):
                prompt = " ".join(rng.choice(WORDS) for _ in range(8))
                _, image_id = await db.execute(
                    """INSERT INTO images (job_id, idx, path, sha256, size_bytes, width, height, seed, prompt, model,
                                           created_at) VALUES (?, ?, ?, 'x', 1, 512, 512, 1, ?, 'sd15', ?)""",
                    (job_id, idx, f"/images/{job_id}/{idx}.png", prompt, now),
                )
                ids.append(image_id)
            if job_id % 2 == 0:
                channel = guild + rng.randrange(10)
                for number, image_id in enumerate(ids, start=1):
                    await db.execute(
                        "INSERT INTO posts (message_id, number, image_id, role, channel_id, guild_id, created_at)"
                        " VALUES (?, ?, ?, 'grid', ?, ?, ?)",
                        (job_id, number, image_id, channel, guild, now),
                    )


async def _no_results(job_id: int) -> JobResult:
    raise NotImplementedError("this benchmark reads no job results")


async def _median_ms(call: Callable[[], Awaitable[Any]], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main(images: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "bench.db")
        try:
            start = time.perf_counter()
            await _fill(db, images)
            print(f"{images} images stored in {time.perf_counter() - start:.1f} s")
            gallery = GalleryService(db, results=_no_results)
            server = ImageFilter(scope="server")
            member = Viewer(Caller(user_id=7, guild_id=GUILDS[0]), frozenset(GUILDS[0] + c for c in range(5)))
            deep = (await db.fetchone("SELECT MAX(id) / 10 FROM images"))[0]
            seen = (
                await db.fetchone(
                    "SELECT image_id FROM posts WHERE guild_id = ? AND channel_id < ? AND image_id < ? LIMIT 1",
                    (GUILDS[0], GUILDS[0] + 5, deep),
                )
            )[0]
            cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("mine, first page", lambda: gallery.images(member, ImageFilter())),
                ("mine, deep page", lambda: gallery.images(member, ImageFilter(before_id=deep))),
                ("server, first page", lambda: gallery.images(member, ImageFilter(scope="server"))),
                ("server, deep page", lambda: gallery.images(member, ImageFilter(scope="server", before_id=deep))),
                ("server, search 'ighthou'", lambda: gallery.images(member, replace(server, text="ighthou"))),
                ("server, search 'ox'", lambda: gallery.images(member, replace(server, text="ox"))),
                ("mine, search 'castle storm'", lambda: gallery.images(member, ImageFilter(text="castle storm"))),
                ("one image's access check", lambda: gallery.seen(member, [seen])),
            ]
            for name, call in cases:
                print(f"{name:32s} {await _median_ms(call, repeats):8.2f} ms (median of {repeats})")
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.images, args.repeats))
