"""`studio workers`: the engine's workers as their backend describes them (`ExecutionBackend.workers()`).

For a local backend the worker lives in the process that owns the data folder. When that is another process (the
bot is running), nothing here can ask it: the view then describes this machine's device as the settings pick it
(the same GPU, the same precision), the jobs the folder's queue runs now, and says that the models the bot holds are
known only inside it. A Ray cluster is asked directly: its actors answer from any process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine import WorkerInfo
from studio.errors import StudioError
from studio.owner import LOCK_NAME, FolderInUse, acquire, read_holder
from studio.settings import Settings

__all__ = ["WorkerInfo", "WorkersView", "local_workers", "ray_workers"]


@dataclass(frozen=True)
class WorkersView:
    """The workers, what runs on them, and a note on what could not be seen from here (None: nothing)."""

    workers: tuple[WorkerInfo, ...]
    job_kinds: dict[int, str]  # job id → its kind, for the jobs the workers list
    note: str | None = None
    models_known: bool = True  # False: the models held live in another process, which was not asked


async def local_workers(settings: Settings) -> WorkersView:
    """The local backend's worker; when another process owns the data folder, as seen from here (see above)."""
    from studio.container import open_services

    try:
        acquire(settings.data_dir, "studio workers").release()  # only asks: is the folder's owner elsewhere?
        owner = None
    except FolderInUse:
        holder = read_holder(settings.data_dir / LOCK_NAME)
        owner = holder.describe() if holder is not None else "another studio process"
    async with open_services(settings) as services:
        running = await services.db.jobs.list_running()
        kinds = {job.id: job.kind for job in running}
        found = tuple(await services.backend.workers())
    if owner is None:
        return WorkersView(found, kinds, "No studio process runs now: this is the worker the next one starts.")
    # The queue's running jobs belong to the owner's worker; with several, which one runs which is not known here.
    jobs = tuple(kinds) if len(found) == 1 else ()
    seen = tuple(
        replace(w, loaded_models=(), busy=bool(jobs), jobs=jobs, where="the data folder's owner") for w in found
    )
    return WorkersView(
        seen,
        kinds,
        models_known=False,
        note=f"The data folder is owned by {owner}: its worker runs in that process, so the models it holds are known "
        "only there; the device is this machine's, as the settings pick it, and the jobs are the queue's.",
    )


def ray_workers(address: str | None) -> list[WorkerInfo]:
    """Every studio worker on the Ray cluster at `address` (None: the one running here). Blocking."""
    try:
        from engine import worker_statuses
    except ImportError:
        raise StudioError("Ray is not installed: pip install -e '.[ray]'") from None
    return worker_statuses(address)
