from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from storage import open_database

ROOT = Path(__file__).resolve().parents[2]


async def test_committed_rows_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage._crash_writer",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    reported: list[int] = []
    try:
        async with asyncio.timeout(30):
            while len(reported) < 300:
                line = await child.stdout.readline()
                assert line, "the writer died before it was killed"
                reported.append(int(line))
    finally:
        child.send_signal(signal.SIGKILL)  # mid-loop: no cleanup, no final commit
    # Whatever the child managed to report before dying was committed too.
    rest = await child.stdout.read()
    reported += [int(line) for line in rest.split()]
    assert await child.wait() == -signal.SIGKILL

    db = await open_database(path)
    try:
        assert (await db.fetchone("PRAGMA integrity_check"))[0] == "ok"
        stored = {row["id"] for row in await db.fetchall("SELECT id FROM jobs")}
        assert set(reported) <= stored
        assert len(stored) - len(reported) <= 1  # at most the row committed just before the kill, unreported
        total = (await db.fetchone("SELECT SUM(images) FROM usage"))[0]
        assert total == len(stored)  # both writes of each transaction, or neither
    finally:
        await db.close()
