"""Child process for the crash test: commits rows forever, reporting each id after its commit."""

from __future__ import annotations

import asyncio
import sys

from storage import open_database


async def main(path: str) -> None:
    db = await open_database(path)
    n = 0
    while True:
        n += 1
        async with db.transaction():
            job = await db.jobs.create("generate", {"n": n, "pad": "x" * 200}, requester_id=n % 5)
            await db.usage.add(n % 5, 1, 1)
        sys.stdout.write(f"{job.id}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
