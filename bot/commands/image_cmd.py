"""`studio describe`, `studio vary` and `studio edit`: the same jobs as the slash commands, run locally."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from bot.cli import Context, _run, cli
from bot.commands.gen_cmd import LOCAL_USER, OUT_DIR, CliDelivery, _copy_result, _print_result, copy_failed
from bot.services.api import Caller, DescribeResult, EditImageInput, JobResult, JobTicket, VaryImageInput
from bot.services.errors import StudioError

LOCAL = Caller(user_id=LOCAL_USER, is_local=True)
IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)


async def _with_services(obj: Context, work: Callable[[Any, CliDelivery], Awaitable[Any]]) -> Any:
    from bot.services.container import open_services

    async with open_services(obj.settings) as services:
        delivery = CliDelivery()
        services.jobs.set_delivery(delivery)
        await services.jobs.start()
        return await work(services, delivery)


async def _job_result(services: Any, delivery: CliDelivery, ticket: JobTicket) -> JobResult:
    await services.jobs.wait(ticket.job_id)
    if ticket.job_id in delivery.errors:
        raise StudioError(delivery.errors[ticket.job_id])
    return delivery.results[ticket.job_id]


def _finish(result: JobResult, out: Path | None) -> None:
    if out is not None:
        try:
            copied = _copy_result(result, out)
            extras = []
            for path in result.extra_files:
                target = out / f"job{result.job_id}_{path.name}"
                shutil.copyfile(path, target)
                extras.append(target)
        except OSError as exc:
            raise copy_failed(out, exc) from None
        result = replace(copied, extra_files=tuple(extras))
    if result.note:
        click.echo(result.note)
    _print_result(result)
    for path in result.extra_files:
        click.echo(f"  mask overlay: {path}")


@cli.command("describe")
@click.argument("image", type=IMAGE)
@click.option("--count", "-n", type=click.IntRange(1, 8), default=4, show_default=True, help="How many prompts.")
@click.pass_obj
def describe(obj: Context, image: Path, count: int) -> None:
    """Print numbered candidate prompts for IMAGE, exactly as /describe finds them."""
    data = image.read_bytes()

    async def go(services: Any, _delivery: CliDelivery) -> DescribeResult:
        return await services.jobs.describe(LOCAL, data, count)

    result: DescribeResult = _run(lambda: _with_services(obj, go))
    for n, prompt in enumerate(result.prompts, start=1):
        click.echo(f"{n}. {prompt}")


@cli.command("vary")
@click.argument("image", type=IMAGE)
@click.argument("instruction")
@click.option("--strength", type=click.FloatRange(0.05, 1.0), help="Default: suggested by the instruction.")
@click.option("--count", "-n", type=click.Choice(["1", "2", "4", "8"]), default="4", show_default=True)
@click.option("--model", "-m", help="Catalog id or installed model/LoRA name (default: STUDIO_DEFAULT_MODEL).")
@click.option("--seed", type=int)
@click.option("--out", type=OUT_DIR, help="Also copy the images into this folder.")
@click.pass_obj
def vary(
    obj: Context,
    image: Path,
    instruction: str,
    strength: float | None,
    count: str,
    model: str | None,
    seed: int | None,
    out: Path | None,
) -> None:
    """Change IMAGE by INSTRUCTION: print the output prompt and the new images, exactly as /vary does."""
    data = image.read_bytes()
    options = VaryImageInput(instruction, strength=strength, count=int(count), model=model, seed=seed)

    async def go(services: Any, delivery: CliDelivery) -> JobResult:
        return await _job_result(services, delivery, await services.jobs.vary_image(LOCAL, data, options))

    result: JobResult = _run(lambda: _with_services(obj, go))
    _finish(result, out)


@cli.command("edit")
@click.argument("image", type=IMAGE)
@click.argument("instruction")
@click.option("--mask", type=IMAGE, help="Black image, white where the picture should change.")
@click.option("--region", help="Or: the part to change, in words (e.g. 'the sky').")
@click.option("--count", "-n", type=click.Choice(["1", "2", "4", "8"]), default="4", show_default=True)
@click.option("--model", "-m", help="Catalog id or installed model/LoRA name (default: STUDIO_DEFAULT_MODEL).")
@click.option("--seed", type=int)
@click.option("--out", type=OUT_DIR, help="Also copy the images and the mask overlay here.")
@click.pass_obj
def edit(
    obj: Context,
    image: Path,
    instruction: str,
    mask: Path | None,
    region: str | None,
    count: str,
    model: str | None,
    seed: int | None,
    out: Path | None,
) -> None:
    """Repaint part of IMAGE by INSTRUCTION (--mask M or --region TEXT), exactly as /edit does."""
    if (mask is None) == (region is None):
        raise click.UsageError("give exactly one of --mask or --region")
    data = image.read_bytes()
    mask_data = mask.read_bytes() if mask is not None else None
    options = EditImageInput(instruction, region=region, count=int(count), model=model, seed=seed)

    async def go(services: Any, delivery: CliDelivery) -> JobResult:
        return await _job_result(services, delivery, await services.jobs.edit_image(LOCAL, data, options, mask_data))

    result: JobResult = _run(lambda: _with_services(obj, go))
    _finish(result, out)
