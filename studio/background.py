"""Background tasks that are never lost: a reference is kept until each ends, and its failure is logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    """Start fire-and-forget tasks on the running loop; `cancel_all` / `wait` at shutdown."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "%s: background task %s failed",
                self._owner,
                task.get_name(),
                exc_info=(type(error), error, error.__traceback__),
            )

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self, limit_s: float) -> None:
        """Wait up to `limit_s` seconds for the running tasks to end."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=limit_s)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
