"""Running jobs from the command line: the services with a terminal delivery port, and result output."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from tqdm import tqdm

from cli.commands._support import Interrupted
from studio.contract import Deliverable, JobRoute, JobTicket, Progress, SchedulePaused
from studio.errors import StudioError
from studio.images.api import JobResult
from studio.settings import Settings
from studio.training.interrupted import resume_name

if TYPE_CHECKING:
    from studio.container import Services
    from studio.jobs.recovery import Leftover

# An existing file is refused before the job runs; a missing folder is created when the results are copied.
OUT_DIR = click.Path(file_okay=False, path_type=Path)


class CliDelivery:
    """Shows a job's life in the terminal: a progress bar, then the result."""

    def __init__(self) -> None:
        self.results: dict[int, Deliverable] = {}
        self.extras: dict[int, list[Deliverable]] = {}
        self.errors: dict[int, str] = {}
        self._bar: tqdm | None = None
        self._bar_job: int | None = None

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        return None

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        if self._bar is not None and self._bar_job != route.job_id:
            self._close_bar()  # another job's updates: a bar of its own, not the last one's label
        if self._bar is None:
            # The bar starts at the first step seen, so its rate and ETA count only the steps this process ran
            # (a resumed training starts at its checkpoint's step; a first update is not a step in no time).
            self._bar = tqdm(
                total=progress.total, initial=progress.step, desc=f"job {route.job_id}", unit="step", leave=False
            )
            self._bar_job = route.job_id
        self._bar.total = progress.total
        self._bar.n = progress.step
        self._bar.refresh()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    async def delivered(self, route: JobRoute, result: Deliverable) -> int | None:
        self._close_bar()
        self.results[route.job_id] = result
        return None

    async def posted(self, route: JobRoute, item: Deliverable) -> int | None:
        self.extras.setdefault(route.job_id, []).append(item)
        return None

    async def failed(self, route: JobRoute, message: str) -> None:
        self._close_bar()
        self.errors[route.job_id] = message

    async def cancelled(self, route: JobRoute) -> None:
        self._close_bar()
        self.errors[route.job_id] = "cancelled"

    async def schedule_paused(self, notice: SchedulePaused) -> None:
        self._close_bar()
        click.echo(
            f"auto-post #{notice.schedule_id} {notice.name} paused: {notice.reason}; "
            f"`/autopost resume {notice.schedule_id}` in Discord starts it again",
            err=True,
        )


async def with_services(
    settings: Settings,
    work: Callable[[Services, CliDelivery], Awaitable[Any]],
    *,
    start: bool | Literal["if_free"] = True,
) -> Any:
    """Open the services with a terminal delivery port, start the queue, run `work`, close everything.

    Starting the queue makes this process the data folder's one owner (refused in one line while another
    `studio` process owns it); with `start` False `work` only reads, beside any owner; "if_free" starts the
    queue unless another process owns the folder. Ctrl+C cancels the jobs this command runs (a training
    stops at a checkpoint instead) and raises `Interrupted`.
    """
    from studio.container import open_services
    from studio.owner import FolderInUse

    if start == "if_free":
        try:
            return await with_services(settings, work, start=True)
        except FolderInUse:
            return await with_services(settings, work, start=False)
    owner = _command_name() if start else None
    async with open_services(settings, owner=owner) as services:
        delivery = CliDelivery()
        services.jobs.delivery.register(delivery, "cli")  # the jobs of this command, and none of the bot's
        if not start:
            services.jobs.read_only()
        try:
            if start:
                for leftover in await services.jobs.start(own_only=True):
                    click.echo(await _leftover_line(services, leftover), err=True)
            return await work(services, delivery)
        except asyncio.CancelledError:
            # asyncio.run turns Ctrl+C into this task's cancellation: the jobs are cancelled here, while the
            # services are still open; closing them stops a training at a checkpoint.
            cancelled, kept = await services.jobs.interrupt()
            hints = [(job.job_id, await _resume_hint(services, job.request)) for job in kept]
    delivery._close_bar()  # a stopped training reported steps until the close: the line below stands alone
    parts = [f"cancelled job{'s' if len(cancelled) > 1 else ''} {', '.join(map(str, cancelled))}"] if cancelled else []
    # After the close: the last step a stopped training reported is the checkpoint it saved.
    parts += [f"job {job_id} stopped at step {services.jobs.last_step(job_id)}; {hint}" for job_id, hint in hints]
    raise Interrupted("; ".join(parts) or "interrupted before any job was queued")


def _command_name() -> str:
    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "studio"


async def _resume_hint(services: Services, request: Mapping[str, Any]) -> str:
    """How to go on with a training job."""
    return f"`studio train --name {await resume_name(services, dict(request))} --resume` goes on"


async def _leftover_line(services: Services, leftover: Leftover) -> str:
    """One line for a job an interrupted or killed `studio` command left behind."""
    job = f"job {leftover.job_id} ({leftover.kind})"
    if leftover.action == "kept":
        name = await resume_name(services, dict(leftover.request))
        return (
            f"{job} was left by an interrupted command: `studio train --name {name} --resume` "
            f"goes on, `studio train cancel {name}` drops it"
        )
    if leftover.action == "failed":
        return f"{job} left by an interrupted command failed: {leftover.error or 'interrupted'}"
    return f"dropped {job} left by an interrupted command"


async def wait_delivered(services: Services, delivery: CliDelivery, job_id: int) -> Deliverable:
    """Wait for a job; what it delivered, or a StudioError with its failure."""
    await services.jobs.wait(job_id)
    if job_id in delivery.errors:
        raise StudioError(delivery.errors[job_id])
    if job_id not in delivery.results:
        raise StudioError(f"Job {job_id} ended without a result.")
    return delivery.results[job_id]


async def wait_result(services: Services, delivery: CliDelivery, ticket: JobTicket) -> JobResult:
    """Wait for an image job; its result, or a StudioError with its failure."""
    result = await wait_delivered(services, delivery, ticket.job_id)
    assert isinstance(result, JobResult), type(result)
    return result


def copy_failed(out: Path, exc: OSError) -> click.ClickException:
    """One line for a copy into --out that the file system refused (the job's files stay in the data folder)."""
    return click.ClickException(f"could not copy the results into {out}: {exc.strerror or exc}")


def copy_result(result: JobResult, out: Path) -> JobResult:
    """Copy the images, the grid and any extra files into `out`; the result, pointing at the copies."""
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for image in result.images:
        target = out / f"job{result.job_id}_{image.index}_seed{image.seed}.png"
        shutil.copyfile(image.path, target)
        images.append(replace(image, path=target))
    grid = None
    if result.grid_path is not None:
        grid = out / f"job{result.job_id}_grid{result.grid_path.suffix}"
        shutil.copyfile(result.grid_path, grid)
    extras = []
    for path in result.extra_files:
        target = out / f"job{result.job_id}_{path.name}"
        shutil.copyfile(path, target)
        extras.append(target)
    return replace(result, images=tuple(images), grid_path=grid, extra_files=tuple(extras))


def print_result(result: JobResult) -> None:
    if result.note:
        click.echo(result.note)
    click.echo(
        f"job {result.job_id}: {len(result.images)} image(s), model {result.model}, seed {result.seed}, "
        f"{result.steps} steps, guidance {result.guidance}, {result.width}x{result.height}"
    )
    for image in result.images:
        click.echo(f"  image {image.index + 1} (id {image.image_id}, seed {image.seed}): {image.path}")
    if result.grid_path is not None:
        click.echo(f"  grid: {result.grid_path}")
    for path in result.extra_files:
        click.echo(f"  mask overlay: {path}")
