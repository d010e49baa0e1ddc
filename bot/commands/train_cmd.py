"""`studio train`: a LoRA from a folder of images, with the same plan, checkpoints, resume and registration."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.commands._local import CliDelivery, wait_delivered, with_services
from bot.commands._support import LOCAL, Context, run_async
from bot.services.errors import StudioError
from bot.services.training.api import PlanView, RunInfo
from bot.services.training.results import TrainingResult

if TYPE_CHECKING:
    from bot.services.container import Services

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _images(folder: Path) -> list[tuple[Path, str | None]]:
    """The folder's images, by name, each with the caption of the `.txt` file beside it (None: caption it)."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            text = path.with_suffix(".txt")
            caption = " ".join(text.read_text(encoding="utf-8").split()) if text.is_file() else None
            found.append((path, caption or None))
    return found


def _plan_lines(plan: PlanView) -> list[str]:
    lines = [f"plan: {plan.model_name} on {plan.base_model}, {plan.images} image(s), trigger '{plan.trigger_word}'"]
    lines += [f"  {row.label}: {row.value} ({row.source})" for row in plan.rows]
    memory = "" if plan.memory_gb is None else f", ~{plan.memory_gb:.1f} of {plan.budget_gb:.1f} GB GPU memory"
    lines.append(f"  {plan.samples} samples, ~{plan.estimate_s:.0f} s{memory}, ~{plan.disk_bytes / 1e6:.0f} MB of disk")
    return lines


def _result_lines(result: TrainingResult, services: Services) -> list[str]:
    resumed = f", resumed at step {result.resumed_at}" if result.resumed_at else ""
    lines = [f"trained {result.steps_done}/{result.total_steps} steps in {result.elapsed_s:.0f} s{resumed}"]
    for c in result.checkpoints:
        score = "" if c.consistency is None else f", consistency {c.consistency:.3f}, likeness {c.likeness:.3f}"
        mark = "  <- registered" if c.chosen else ""
        lines.append(f"  step {c.step}: loss {c.loss:.4f}{score}{mark}")
    if result.model_name:
        diffusers_file, kohya_file = services.training.registry.lora_files(result.model_name)
        lines.append(f"registered as '{result.model_name}' (trigger '{result.trigger_word}')")
        lines.append(f"  diffusers: {diffusers_file}")
        lines.append(f"  kohya (A1111, ComfyUI): {kohya_file}")
    else:
        lines.append("stopped before the end: nothing registered")
    if result.loss_plot_path:
        lines.append(f"  loss plot: {result.loss_plot_path}")
    if result.scales_path:
        lines.append(f"  samples at scale 0.8 / 1.0 / 1.2: {result.scales_path}")
    return lines


@click.group(invoke_without_command=True)
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), help="A folder of images.")
@click.option("--name", help="The new model's name (and its training set's).")
@click.option("--base", "base_model", help="The base model (default: the bot's default model).")
@click.option("--steps", type=int, help="Optimizer steps (default: from the number of images).")
@click.option("--rank", type=int, help="LoRA rank (default: the model's preset).")
@click.option("--learning-rate", type=float, help="Learning rate (default: the model's preset).")
@click.option("--resolution", type=int, help="Training resolution in pixels (default: the model's).")
@click.option("--optimizer", type=click.Choice(["adamw", "adamw8bit", "prodigy"]), help="Default: adamw.")
@click.option("--train-text-encoder", is_flag=True, default=None, help="Train the text encoder too (SD 1.5).")
@click.option("--trigger", help="The trigger word (default: the name).")
@click.option("--resume", is_flag=True, help="Go on with the interrupted run of --name from its last checkpoint.")
@click.pass_context
def train(
    ctx: click.Context,
    images: Path | None,
    name: str | None,
    base_model: str | None,
    steps: int | None,
    rank: int | None,
    learning_rate: float | None,
    resolution: int | None,
    optimizer: str | None,
    train_text_encoder: bool | None,
    trigger: str | None,
    resume: bool,
) -> None:
    """Train a LoRA from a folder of images (captions from .txt files beside them, else the captioner).

    The run makes the same checkpoints as /train, resumes after an interruption (--resume), registers the
    model in the picker and writes both files (diffusers, and kohya for AUTOMATIC1111 and ComfyUI).
    """
    if ctx.invoked_subcommand is not None:
        return
    if not name or (images is None and not resume):
        raise click.UsageError("give --images DIR and --name NAME (or --name NAME --resume)")
    obj: Context = ctx.obj

    async def go(services: Services, delivery: CliDelivery) -> TrainingResult:
        if resume:
            job_id = await _interrupted(services, name)
        else:
            assert images is not None
            await _fill_set(services, images, name, trigger, base_model)
            plan = await services.training.plan(
                LOCAL,
                name,
                name,
                base_model=base_model,
                steps=steps,
                rank=rank,
                learning_rate=learning_rate,
                resolution=resolution,
                optimizer=optimizer,
                train_text_encoder=train_text_encoder or None,  # not given: the preset decides
            )
            for line in _plan_lines(plan):
                click.echo(line)
            job_id = (await services.training.start(LOCAL, plan.run_id)).job_id
        result = await wait_delivered(services, delivery, job_id)
        assert isinstance(result, TrainingResult), type(result)
        for line in _result_lines(result, services):
            click.echo(line)
        return result

    run_async(lambda: with_services(obj.settings, go))


async def _fill_set(services: Services, folder: Path, name: str, trigger: str | None, base: str | None) -> None:
    """The training set `name` with the folder's images; `.txt` captions are a member's, the rest are captioned."""
    found = _images(folder)
    if not found:
        raise StudioError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in {folder}.")
    known = {s.name for s in await services.trainsets.list(LOCAL)}
    if services.trainsets.slug(name) not in known:
        await services.trainsets.create(LOCAL, name, trigger or name, base)
    added, captions = await services.trainsets.add_uploads(LOCAL, [path.read_bytes() for path, _ in found], name)
    if captions is not None:
        await services.jobs.wait(captions)
    by_content = {item.path.stem: item for item in added}  # the set names its copies by their content
    for path, caption in found:
        item = by_content.get(hashlib.sha256(path.read_bytes()).hexdigest())
        if item is not None and caption:
            await services.trainsets.caption(LOCAL, item.number, caption, name)
    click.echo(f"set '{services.trainsets.slug(name)}': {len(added)} new image(s) of {len(found)}")


async def _interrupted(services: Services, name: str) -> int:
    """The job of the newest run of `name` that has not ended (the queue resumes it from its checkpoint)."""
    for run in await services.db.training_runs.list(None, limit=100):
        if name in (run.output_name, run.plan.get("requested_name")) and run.status == "started" and run.job_id:
            job = await services.db.jobs.get(run.job_id)
            if job is not None and job.active:
                click.echo(f"resuming run {run.id} ({run.output_name})")
                return job.id
    raise StudioError(f"No interrupted training of '{name}' to resume; start one with --images.")


@train.command("list")
@click.pass_obj
def list_runs(obj: Context) -> None:
    """The trainings run on this machine, newest first, with their scores."""

    async def go(services: Services, _delivery: CliDelivery) -> list[RunInfo]:
        return await services.training.list(LOCAL)

    runs = run_async(lambda: with_services(obj.settings, go, start=False))  # reading only: nothing resumes
    for run in runs:
        score = "" if run.best_consistency is None else f", best consistency {run.best_consistency:.3f}"
        model = f" -> {run.model_name} (step {run.chosen_step})" if run.model_name else ""
        done = run.steps_done if run.steps_done is not None else 0
        click.echo(f"#{run.run_id} {run.output_name}: {run.status}, {done}/{run.steps} steps{score}{model}")
    if not runs:
        click.echo("no trainings yet")
