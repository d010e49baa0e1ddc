"""`studio generate` and `studio demo`: the same jobs as /generate, run locally."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from tqdm import tqdm

from bot.cli import Context, _run, cli
from bot.services.api import Caller, GenerateInput, JobResult, JobRoute, Progress
from bot.services.errors import StudioError
from engine.catalog import SCHEDULERS

LOCAL_USER = 0  # the CLI's jobs are recorded as made by user 0
# An existing file is refused before the job runs; a missing folder is created when the results are copied.
OUT_DIR = click.Path(file_okay=False, path_type=Path)


class CliDelivery:
    """Shows a job's life in the terminal: a progress bar, then the result."""

    def __init__(self) -> None:
        self.results: dict[int, JobResult] = {}
        self.errors: dict[int, str] = {}
        self._bar: tqdm | None = None

    async def queued(self, route: JobRoute, position: int, eta_s: float | None) -> int | None:
        return None

    async def progress(self, route: JobRoute, progress: Progress) -> None:
        if self._bar is None:
            self._bar = tqdm(total=progress.total, desc=f"job {route.job_id}", unit="step", leave=False)
        self._bar.total = progress.total
        self._bar.n = progress.step
        self._bar.refresh()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    async def delivered(self, route: JobRoute, result: JobResult) -> int | None:
        self._close_bar()
        self.results[route.job_id] = result
        return None

    async def failed(self, route: JobRoute, message: str) -> None:
        self._close_bar()
        self.errors[route.job_id] = message

    async def cancelled(self, route: JobRoute) -> None:
        self._close_bar()
        self.errors[route.job_id] = "cancelled"


async def generate_locally(obj: Context, options: GenerateInput, out: Path | None) -> JobResult:
    """Run one generation job through the job service and copy its files to `out`."""
    from bot.services.container import open_services

    async with open_services(obj.settings) as services:
        delivery = CliDelivery()
        services.jobs.set_delivery(delivery)
        await services.jobs.start()
        ticket = await services.jobs.submit_generate(Caller(user_id=LOCAL_USER, is_local=True), options)
        await services.jobs.wait(ticket.job_id)
        if ticket.job_id in delivery.errors:
            raise StudioError(delivery.errors[ticket.job_id])
        result = delivery.results[ticket.job_id]
    if out is not None:
        try:
            result = await asyncio.to_thread(_copy_result, result, out)
        except OSError as exc:
            raise copy_failed(out, exc) from None
    return result


def copy_failed(out: Path, exc: OSError) -> click.ClickException:
    """One line for a copy into --out that the file system refused (the job's files stay in the data folder)."""
    return click.ClickException(f"could not copy the results into {out}: {exc.strerror or exc}")


def _copy_result(result: JobResult, out: Path) -> JobResult:
    import shutil
    from dataclasses import replace

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
    return replace(result, images=tuple(images), grid_path=grid)


def _print_result(result: JobResult) -> None:
    click.echo(
        f"job {result.job_id}: {len(result.images)} image(s), model {result.model}, seed {result.seed}, "
        f"{result.steps} steps, guidance {result.guidance}, {result.width}x{result.height}"
    )
    for image in result.images:
        click.echo(f"  image {image.index + 1} (seed {image.seed}): {image.path}")
    if result.grid_path is not None:
        click.echo(f"  grid: {result.grid_path}")


@cli.command("generate")
@click.argument("prompt")
@click.option("--count", "-n", type=click.Choice(["1", "2", "4", "8"]), default="4", show_default=True)
@click.option("--model", "-m", help="Catalog id or installed model/LoRA name (default: STUDIO_DEFAULT_MODEL).")
@click.option("--negative", default="", help="Negative prompt.")
@click.option("--aspect", type=click.Choice(["1:1", "2:3", "3:2", "16:9", "9:16"]))
@click.option("--seed", type=int)
@click.option("--steps", type=int)
@click.option("--guidance", type=float)
@click.option("--lora-scale", type=float, help="Weight of the LoRA when --model names one.")
@click.option("--scheduler", type=click.Choice(SCHEDULERS), help="Sampler (default: the model's).")
@click.option("--out", type=OUT_DIR, help="Also copy the images and grid into this folder.")
@click.pass_obj
def generate(obj: Context, prompt: str, count: str, out: Path | None, **options: object) -> None:
    """Make images from a text prompt, exactly as /generate does."""
    inp = GenerateInput(prompt=prompt, count=int(count), **options)  # type: ignore[arg-type]
    _print_result(_run(lambda: generate_locally(obj, inp, out)))


@cli.command("demo")
@click.pass_obj
def demo(obj: Context) -> None:
    """The main job on the embedded defaults: create the database, list the models, generate on tiny-sd."""
    from bot.commands.models_cmd import print_catalog

    click.echo(f"data directory: {obj.settings.data_dir}")
    print_catalog(obj)
    inp = GenerateInput(prompt="a lighthouse on a cliff at dawn, oil painting", count=4, model="tiny-sd", seed=42)
    _print_result(_run(lambda: generate_locally(obj, inp, None)))
    click.echo(
        "tiny-sd has random weights: its images are noise. Point STUDIO_DEFAULT_MODEL at sd15 or sdxl for real ones."
    )
