"""Following one run: its row, its journal and, once it ended, its checkpoints; and the pictures it made."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage import Database
from storage.records import TrainingRun
from studio.errors import NotFound
from studio.training import journal
from studio.training.api import PICTURES, RunInfo, RunView
from studio.training.registry import Registry

ENDED = ("done", "stopped")


async def run_view(db: Database, registry: Registry, run: TrainingRun, info: RunInfo, tail: int) -> RunView:
    view = await asyncio.to_thread(journal.read, registry.run_dir(run.id), tail)
    result = await registry.result(run.id) if run.status in ENDED else None
    running = info.status in ("queued", "running")
    return RunView(
        info=info,
        job_id=run.job_id,
        trigger_word=run.trigger_word,
        step=view.step,
        losses=view.losses,
        samples_per_s=view.samples_per_s,
        eta_s=view.eta_s if running else None,
        log=view.lines,
        has_newest_grid=view.newest_grid is not None or bool(result and result.checkpoints),
        has_scales=bool(result and result.scales_path),
        checkpoints=result.checkpoints if result else (),
    )


async def picture(registry: Registry, run: TrainingRun, which: str | int) -> Path:
    """The file of a run's picture (NotFound when it has none, or none yet)."""
    found: Path | None = None
    if isinstance(which, int):
        checkpoints = {c.step: c for c in (await registry.result(run.id)).checkpoints} if run.status in ENDED else {}
        found = checkpoints[which].samples_path if which in checkpoints else None
    elif which == "scales" and run.status in ENDED:
        found = (await registry.result(run.id)).scales_path
    elif which == "newest":
        found = (await asyncio.to_thread(journal.read, registry.run_dir(run.id), 0)).newest_grid
        if found is None and run.status in ENDED:
            shown = [c.samples_path for c in (await registry.result(run.id)).checkpoints if c.samples_path]
            found = shown[-1] if shown else None
    elif which not in PICTURES:
        raise NotFound(f"A run has no picture {which!r}: ask for a checkpoint's step, or one of {', '.join(PICTURES)}.")
    if found is None or not await asyncio.to_thread(found.is_file):
        raise NotFound(f"Run {run.id} has no such picture (yet).")
    return found
