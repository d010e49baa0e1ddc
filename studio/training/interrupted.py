"""Telling a training that runs from one a killed or interrupted process left behind, read beside any owner.

A run's job says `queued` or `running` in both cases; what differs is whether a live process owns the data
folder's queue and runs it. Nothing here takes the owner's lock or imports torch: `studio train list` reads only.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.errors import StudioError
from studio.names import same_name
from studio.owner import LOCK_NAME, Holder, read_holder
from studio.training.api import RunInfo
from studio.training.plans import StoredPlan

if TYPE_CHECKING:
    from storage.records import TrainingRun
    from studio.container import Services

# The trainer's checkpoint layout (engine.training.checkpoint): `ckpt-<step>/` holds these once complete.
_CHECKPOINT_FILES = ("state.json", "optimizer.safetensors")


def live_owner(data_dir: Path) -> Holder | None:
    """The process that owns the data folder's queue, when it is still alive (a kill leaves its name behind)."""
    holder = read_holder(data_dir / LOCK_NAME)
    if holder is None:
        return None
    try:
        os.kill(holder.pid, 0)  # signal 0: is it there, nothing sent
    except ProcessLookupError:
        return None
    except PermissionError:
        return holder  # another user's process, alive
    return holder


def is_interrupted(job_status: str, job_origin: str, owner: Holder | None) -> bool:
    """Whether an unfinished run's job is left without anyone to run it.

    A running job with no live owner was killed with its process. A queued training of the command line is run
    only by the `studio train` that made it (another command's queue keeps it for `--resume`); a queued one of
    Discord waits for the bot, which is interrupted too while no process owns the folder.
    """
    if job_status not in ("queued", "running"):
        return False
    if owner is None:
        return True
    if job_status == "queued" and job_origin == "cli":
        return owner.command.split()[1:2] != ["train"]
    return False


def last_checkpoint(run_dir: Path) -> int | None:
    """The step of the newest checkpoint a resume starts from (complete, its optimizer state kept), or None."""
    steps = []
    for path in run_dir.glob("ckpt-*") if run_dir.is_dir() else ():
        number = path.name.removeprefix("ckpt-")
        if number.isdigit() and all((path / name).is_file() for name in _CHECKPOINT_FILES):
            steps.append(int(number))
    return max(steps, default=None)


@dataclass(frozen=True)
class InterruptedRun:
    """A run whose job has not ended: `--resume` goes on with its job, from its last checkpoint."""

    run_id: int
    output_name: str
    job_id: int


def _asked(run: TrainingRun) -> str | None:
    """The name the run's plan was asked for (its output_name may be name-v2)."""
    return StoredPlan.from_json(run.plan).requested_name


async def find_interrupted(services: Services, name: str) -> InterruptedRun:
    """The newest run of `name` (in any case) that has not ended; StudioError when there is none."""
    for run in await services.db.training_runs.list(None, limit=100):
        named = same_name(name, run.output_name) or same_name(name, _asked(run))  # in any case
        if named and run.status == "started" and run.job_id:
            job = await services.db.jobs.get(run.job_id)
            if job is not None and job.active:
                return InterruptedRun(run.id, run.output_name, run.job_id)
    raise StudioError(f"No interrupted training of '{name}' (`studio train list` shows the trainings).")


async def interrupted_at(services: Services, run: RunInfo, owner: Holder | None) -> int | None:
    """The step an interrupted run resumes from (0: from the start), or None when it is not interrupted."""
    if run.status not in ("queued", "running"):
        return None
    stored = await services.db.training_runs.get(run.run_id)
    job = await services.db.jobs.get(stored.job_id) if stored is not None and stored.job_id else None
    if job is None or not is_interrupted(job.status, job.origin, owner):
        return None
    return await asyncio.to_thread(last_checkpoint, services.training.registry.run_dir(run.run_id)) or 0


async def resume_name(services: Services, request: dict[str, object]) -> str:
    """The name a training job's run answers to in `studio train --name … --resume` (from the job's `request`)."""
    run_id = request.get("run_id", 0)
    run = await services.db.training_runs.get(int(run_id) if isinstance(run_id, int | str) else 0)
    if run is not None:
        return _asked(run) or run.output_name
    return str(request.get("output_name", ""))
