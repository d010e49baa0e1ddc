"""`studio workers`: the Ray workers running the studio's jobs, their GPU, the base models they hold, their jobs."""

from __future__ import annotations

from typing import Any

import click

from bot.commands._support import Context


def worker_lines(statuses: list[dict[str, Any]]) -> list[str]:
    lines = []
    for w in statuses:
        gpus = ",".join(w["gpu_ids"]) or "-"
        models = ", ".join(w["models"]) or "no model loaded"
        jobs = ", ".join(f"job {job} ({task})" for job, task in w["jobs"].items()) or "idle"
        lines.append(f"{w['name']}: {w['node']} pid {w['pid']}, GPU {gpus} ({w['device']}); {models}; {jobs}")
    return lines


@click.command("workers")
@click.option("--address", help="The Ray cluster (default: STUDIO_RAY_ADDRESS, else the one running here).")
@click.pass_obj
def workers(obj: Context, address: str | None) -> None:
    """List the Ray workers (STUDIO_BACKEND=ray): GPU, base models held, current jobs."""
    backend = obj.settings.backend
    if backend.kind != "ray" and address is None:
        click.echo("The studio runs its jobs locally (STUDIO_BACKEND=local): one GPU thread in the bot's process.")
        return
    try:
        from engine.backends.ray_backend import worker_statuses
    except ImportError:
        raise click.ClickException("Ray is not installed: pip install -e '.[ray]'") from None
    try:
        statuses = worker_statuses(address or backend.ray_address or None)
    except ConnectionError as exc:
        raise click.ClickException(
            f"No Ray cluster to ask: {exc}. Is the bot running with STUDIO_BACKEND=ray?"
        ) from None
    for line in worker_lines(statuses):
        click.echo(line)
    if not statuses:
        click.echo("no studio workers on this cluster: is the bot running?")
