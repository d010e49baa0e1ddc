"""Files of the training side (a set's images, a run's sample grids), sent after the core checked who asks.

Unlike studio images these change under the same URL (a set's numbers shift, the newest grid moves on), so they
are revalidated on each use rather than cached for a year.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi.responses import FileResponse

from studio.errors import NotFound

FILE = FileResponse
CACHE = "private, no-cache"


async def file_answer(path: Path, what: str) -> FileResponse:
    try:
        stat = await asyncio.to_thread(os.stat, path)
    except FileNotFoundError:
        raise NotFound(f"{what}: its file is gone from the server.") from None
    return FileResponse(path, stat_result=stat, headers={"Cache-Control": CACHE})
