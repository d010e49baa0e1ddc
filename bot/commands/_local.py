"""Running jobs from the command line: the services with a terminal delivery port, and result output."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tqdm import tqdm

from bot.services.api import Deliverable, JobResult, JobRoute, JobTicket, Progress
from bot.services.errors import StudioError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.container import Services

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


async def with_services(
    settings: Settings, work: Callable[[Services, CliDelivery], Awaitable[Any]], *, start: bool = True
) -> Any:
    """Open the services with a terminal delivery port, start the queue (unless `start` is False: `work` only
    reads), run `work`, close everything."""
    from bot.services.container import open_services

    async with open_services(settings) as services:
        delivery = CliDelivery()
        services.jobs.set_delivery(delivery)
        if start:
            await services.jobs.start()
        return await work(services, delivery)


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
        click.echo(f"  image {image.index + 1} (seed {image.seed}): {image.path}")
    if result.grid_path is not None:
        click.echo(f"  grid: {result.grid_path}")
    for path in result.extra_files:
        click.echo(f"  mask overlay: {path}")
