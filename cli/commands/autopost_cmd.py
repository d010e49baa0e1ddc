"""`studio autopost list|run`: the server's scheduled posts, and one post rendered locally without Discord."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.commands._local import OUT_DIR, CliDelivery, copy_failed, copy_result, print_result, wait_result, with_services
from cli.commands._support import LOCAL, Context, local_caller, run_async
from studio.autopost.api import ScheduleView
from studio.images.api import JobResult

if TYPE_CHECKING:
    from studio.container import Services


def _line(view: ScheduleView) -> str:
    state = f"next {view.next_runs[0]:%Y-%m-%d %H:%M %Z}" if view.next_runs else f"paused: {view.paused_reason}"
    last = "never run"
    if view.last_run_at is not None:
        last = f"last {view.last_run_at:%Y-%m-%d %H:%M} UTC: {view.last_result or 'posted'}"
    elif view.last_result:
        last = view.last_result
    model = view.model or "default"
    mix = f"{model} ({view.lora_share} %)" if view.lora_share < 100 else model
    return (
        f"#{view.id} {view.name} -> channel {view.channel_id}: {view.words} ({view.timezone}, `{view.cron}`); "
        f"{state}; {last}\n    {mix}, {view.count} image(s): {view.prompt}"
    )


@click.group()
def autopost() -> None:
    """Scheduled posts (made with /autopost in Discord)."""


@autopost.command("list")
@click.option("--guild", type=int, help="Only this server's schedules (default: every server's).")
@click.pass_obj
def list_schedules(obj: Context, guild: int | None) -> None:
    """Every schedule: its channel, timing in words, next run, last run and its result."""

    async def go(services: Services, _delivery: CliDelivery) -> list[ScheduleView]:
        return await services.autopost.list(local_caller(guild))

    views = run_async(lambda: with_services(obj.settings, go, start=False))  # reading only: nothing runs
    for view in views:
        click.echo(_line(view))
    if not views:
        click.echo("no auto-posts yet: make one with /autopost add in Discord")


@autopost.command("run")
@click.argument("schedule_id", metavar="ID", type=int)
@click.option("--out", type=OUT_DIR, required=True, help="Copy the post's images and grid into this folder.")
@click.pass_obj
def run_post(obj: Context, schedule_id: int, out: Path) -> None:
    """Render one post of schedule ID here, its template and model mix applied, without posting it."""

    async def go(services: Services, delivery: CliDelivery) -> JobResult:
        return await wait_result(services, delivery, await services.autopost.preview(LOCAL, schedule_id))

    result: JobResult = run_async(lambda: with_services(obj.settings, go))
    try:
        result = copy_result(result, out)
    except OSError as exc:
        raise copy_failed(out, exc) from None
    click.echo(f"prompt: {result.prompt}")
    print_result(result)
