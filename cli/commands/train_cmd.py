"""`studio train`: a LoRA from a folder of images, with the same plan, checkpoints, resume and registration."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.commands._handoff_train import TrainRequest, hand_off_cancel, hand_off_training
from cli.commands._local import CliDelivery, wait_delivered, with_services
from cli.commands._support import LOCAL, Context, run_async
from studio.owner import FolderInUse
from studio.training.api import PlanView, RunInfo, TrainOverrides
from studio.training.folder import check_folder, fill_set, read_folder
from studio.training.interrupted import InterruptedRun, find_interrupted, interrupted_at, live_owner
from studio.training.pace import estimate_range
from studio.training.results import TrainingResult

if TYPE_CHECKING:
    from studio.container import Services


def _plan_lines(plan: PlanView) -> list[str]:
    lines = [f"plan: {plan.model_name} on {plan.base_model}, {plan.images} image(s), trigger '{plan.trigger_word}'"]
    if plan.below_minimum is not None:
        lines.append(f"  fewer images than the {plan.below_minimum} a training needs: trained anyway (--force)")
    lines += [f"  {row.label}: {row.value} ({row.source})" for row in plan.rows]
    memory = "" if plan.memory_gb is None else f", ~{plan.memory_gb:.1f} of {plan.budget_gb:.1f} GB GPU memory"
    took = f"{estimate_range(*plan.estimate_range)} ({plan.estimate_basis})"
    lines.append(f"  {plan.samples} samples, {took}{memory}, ~{plan.disk_bytes / 1e6:.0f} MB of disk")
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
@click.option(
    "--prior-images", type=int, help="Prior-preservation images the base model draws (0: off; default: the model's)."
)
@click.option("--trigger", help="The trigger word (default: the name).")
@click.option("--resume", is_flag=True, help="Go on with the interrupted run of --name from its last checkpoint.")
@click.option("--force", is_flag=True, help="Train on fewer images than min_training_images asks.")
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
    prior_images: int | None,
    trigger: str | None,
    resume: bool,
    force: bool,
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
    overrides = TrainOverrides(
        steps=steps,
        rank=rank,
        learning_rate=learning_rate,
        resolution=resolution,
        optimizer=optimizer,
        train_text_encoder=train_text_encoder or None,  # None: the preset's
        prior_images=prior_images,
    )
    asked = TrainRequest(images, name, base_model, trigger, force, resume, overrides)

    async def go(services: Services, delivery: CliDelivery) -> TrainingResult:
        if resume:
            run = await find_interrupted(services, name)
            click.echo(f"resuming run {run.run_id} ({run.output_name})")
            job_id = run.job_id
        else:
            assert images is not None
            # Everything that can refuse the run is asked before an image is copied or captioned.
            found = await asyncio.to_thread(read_folder, images, obj.settings.max_attachment_bytes)
            await check_folder(services, LOCAL, found, name, base_model, overrides, force=force)
            added = await fill_set(services, LOCAL, found, name, trigger, base_model)
            click.echo(f"set '{services.trainsets.set_name(name)}': {added} new image(s) of {len(found)}")
            plan = await services.training.plan(LOCAL, name, name, overrides, base_model=base_model, force=force)
            for line in _plan_lines(plan):
                click.echo(line)
            job_id = (await services.training.start(LOCAL, plan.run_id)).job_id
        result = await wait_delivered(services, delivery, job_id)
        assert isinstance(result, TrainingResult), type(result)
        for line in _result_lines(result, services):
            click.echo(line)
        return result

    async def locally_or_handed_off() -> None:
        try:
            await with_services(obj.settings, go)
        except FolderInUse as refused:  # the folder's owner trains it, when it serves the web
            await hand_off_training(obj.settings, refused, asked, _result_lines)

    run_async(locally_or_handed_off)


@train.command("cancel")
@click.argument("name")
@click.pass_obj
def cancel_run(obj: Context, name: str) -> None:
    """Drop an interrupted training (`studio train list` shows them), so that another may start; or stop the run of
    NAME that a web-serving owner of the data folder runs."""

    async def go(services: Services, _delivery: CliDelivery) -> tuple[InterruptedRun, Path]:
        run = await find_interrupted(services, name)
        await services.training.cancel(LOCAL, run.run_id)
        return run, services.training.registry.run_dir(run.run_id)

    async def locally_or_handed_off() -> str:
        try:
            run, folder = await with_services(obj.settings, go)
        except FolderInUse as refused:  # the folder's owner runs it, when it serves the web
            return await hand_off_cancel(obj.settings, refused, name)
        return f"cancelled run {run.run_id} ({run.output_name}); its checkpoints stay in {folder}"

    click.echo(run_async(locally_or_handed_off))


@train.command("list")
@click.pass_obj
def list_runs(obj: Context) -> None:
    """The trainings run on this machine, newest first, with their scores."""

    async def go(services: Services, _delivery: CliDelivery) -> list[str]:
        owner = await asyncio.to_thread(live_owner, obj.settings.data_dir)
        lines = []
        for run in await services.training.list(LOCAL):
            stopped_at = await interrupted_at(services, run, owner)
            lines.append(_run_line(run) if stopped_at is None else _interrupted_line(run, stopped_at))
        return lines

    lines = run_async(lambda: with_services(obj.settings, go, start=False))  # reading only: nothing resumes
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no trainings yet")


def _run_line(run: RunInfo) -> str:
    score = "" if run.best_consistency is None else f", best consistency {run.best_consistency:.3f}"
    model = f" -> {run.model_name} (step {run.chosen_step})" if run.model_name else ""
    done = run.steps_done if run.steps_done is not None else 0
    return f"#{run.run_id} {run.output_name}: {run.status}, {done}/{run.steps} steps{score}{model}"


def _interrupted_line(run: RunInfo, step: int) -> str:
    where = (
        f"at step {step}/{run.steps} (its last checkpoint)" if step else f"before its first checkpoint, 0/{run.steps}"
    )
    resume = f"`studio train --name {run.output_name} --resume` to go on"
    return f"#{run.run_id} {run.output_name}: interrupted {where}: {resume}"
