"""`studio generate` and `studio demo`: the same jobs as /generate, run locally."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.commands._handoff import Body, locally_or_handed_off
from cli.commands._local import OUT_DIR, CliDelivery, copy_failed, copy_result, print_result, wait_result
from cli.commands._support import LOCAL, Context, run_async
from studio.errors import StudioError
from studio.images.api import ASPECTS, SCHEDULERS, GenerateInput, JobResult, settings_from_text

if TYPE_CHECKING:
    from studio.container import Services


async def generate_locally(obj: Context, options: GenerateInput, out: Path | None) -> JobResult:
    """Run one generation job through the job queue (handed to the folder's owner when it serves the web) and copy
    its files to `out`."""

    async def go(services: Services, delivery: CliDelivery) -> JobResult:
        return await wait_result(services, delivery, await services.generate.submit(LOCAL, options))

    body = Body(json=_as_api(options))
    result = await locally_or_handed_off(obj.settings, go, "/api/generate/text-to-image", body)
    if out is not None:
        try:
            result = await asyncio.to_thread(copy_result, result, out)
        except OSError as exc:
            raise copy_failed(out, exc) from None
    return result


def _as_api(options: GenerateInput) -> dict[str, object]:
    """The options as the API's text-to-image body (web.schemas.TextToImageIn); unset ones left out."""
    body = {
        "prompt": options.prompt,
        "num_outputs": options.count,
        "model": options.model,
        "negative_prompt": options.negative or None,
        "aspect": options.aspect,
        "seed": options.seed,
        "steps": options.steps,
        "guidance": options.guidance,
        "lora_scale": options.lora_scale,
        "scheduler": options.scheduler,
        "extras": dict(options.extras) or None,
    }
    return {name: value for name, value in body.items() if value is not None}


@click.command("generate")
@click.argument("prompt")
@click.option("--count", "-n", type=click.Choice(["1", "2", "4", "8"]), default="4", show_default=True)
@click.option("--model", "-m", help="Catalog id or installed model/LoRA name (default: STUDIO_DEFAULT_MODEL).")
@click.option("--negative", default="", help="Negative prompt.")
@click.option("--aspect", type=click.Choice(ASPECTS))
@click.option("--seed", type=int)
@click.option("--steps", type=int)
@click.option("--guidance", type=float)
@click.option("--lora-scale", type=float, help="Weight of the LoRA when --model names one.")
@click.option("--scheduler", type=click.Choice(SCHEDULERS), help="Sampler (default: the model's).")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE", help="A model's own setting, e.g. clip_skip=2.")
@click.option("--out", type=OUT_DIR, help="Also copy the images and grid into this folder.")
@click.pass_obj
def generate(
    obj: Context, prompt: str, count: str, out: Path | None, settings: tuple[str, ...], **options: object
) -> None:
    """Make images from a text prompt, exactly as /generate does."""
    try:
        extras = settings_from_text(" ".join(settings))
    except StudioError as exc:
        raise click.ClickException(exc.user_message) from None
    inp = GenerateInput(prompt=prompt, count=int(count), extras=extras, **options)  # type: ignore[arg-type]
    print_result(run_async(lambda: generate_locally(obj, inp, out)))


@click.command("demo")
@click.pass_obj
def demo(obj: Context) -> None:
    """The main job on the embedded defaults: create the database, list the models, generate on tiny-world."""
    from cli.commands.models_cmd import print_catalog

    click.echo(f"data directory: {obj.settings.data_dir}")
    print_catalog(obj)
    inp = GenerateInput(prompt="a red circle on a blue background", count=4, model="tiny-world", seed=42)
    print_result(run_async(lambda: generate_locally(obj, inp, None)))
    click.echo(
        "These are recognisable shapes: tiny-world, the default model, draws a toy world of coloured shapes (32 px, "
        "e.g. 'two yellow triangles on a black background'). For real pictures, point at a real model: "
        "`studio generate PROMPT -m sd15`, or STUDIO_DEFAULT_MODEL=sd15."
    )
