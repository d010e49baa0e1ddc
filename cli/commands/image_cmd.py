"""`studio describe`, `studio vary` and `studio edit`: the same jobs as the slash commands, run locally."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.commands._handoff import Body, hand_off_describe, locally_or_handed_off
from cli.commands._local import OUT_DIR, CliDelivery, copy_failed, copy_result, print_result, wait_result, with_services
from cli.commands._support import LOCAL, Context, run_async
from studio.images.api import EditImageInput, JobResult, VaryImageInput
from studio.owner import FolderInUse

IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)

if TYPE_CHECKING:
    from studio.container import Services


def _finish(result: JobResult, out: Path | None) -> None:
    if out is not None:
        try:
            result = copy_result(result, out)
        except OSError as exc:
            raise copy_failed(out, exc) from None
    print_result(result)


@click.command("describe")
@click.argument("image", type=IMAGE)
@click.option("--count", "-n", type=click.IntRange(1, 8), default=4, show_default=True, help="How many prompts.")
@click.pass_obj
def describe(obj: Context, image: Path, count: int) -> None:
    """Print numbered candidate prompts for IMAGE, exactly as /describe finds them."""
    data = image.read_bytes()

    async def go(services: Services, _delivery: CliDelivery) -> list[str]:
        return list((await services.describe.describe(LOCAL, data, count)).prompts)

    async def locally_or_handed_off() -> list[str]:
        try:
            prompts: list[str] = await with_services(obj.settings, go)
        except FolderInUse as refused:
            prompts = await hand_off_describe(obj.settings, refused, image, data, count)
        return prompts

    prompts: list[str] = run_async(locally_or_handed_off)
    for n, prompt in enumerate(prompts, start=1):
        click.echo(f"{n}. {prompt}")


@click.command("vary")
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

    async def go(services: Services, delivery: CliDelivery) -> JobResult:
        return await wait_result(services, delivery, await services.edits.vary_image(LOCAL, data, options))

    fields = {"instruction": instruction, "strength": strength, "count": count, "model": model, "seed": seed}
    body = Body(fields=fields, files={"image": (image, data)})
    result: JobResult = run_async(lambda: locally_or_handed_off(obj.settings, go, "/api/vary", body))
    _finish(result, out)


@click.command("edit")
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

    async def go(services: Services, delivery: CliDelivery) -> JobResult:
        ticket = await services.edits.edit_image(LOCAL, data, options, mask_data)
        return await wait_result(services, delivery, ticket)

    fields = {"instruction": instruction, "region": region, "count": count, "model": model, "seed": seed}
    files = {"image": (image, data)} | ({"mask": (mask, mask_data)} if mask is not None and mask_data else {})
    body = Body(fields=fields, files=files)
    result: JobResult = run_async(lambda: locally_or_handed_off(obj.settings, go, "/api/edit", body))
    _finish(result, out)
