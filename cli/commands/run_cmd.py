"""`studio run` and `studio sync`: the Discord bot."""

from __future__ import annotations

import click

from cli.commands._support import Context, run_async


@click.command("run")
@click.pass_obj
def run(obj: Context) -> None:
    """Start the Discord bot (reads DISCORD_TOKEN from .env)."""
    from bot.runner import run_bot

    run_async(lambda: run_bot(obj.settings))


@click.command("sync")
@click.option("--guild", type=int, help="Sync to this guild only (instant); default: globally (up to an hour).")
@click.pass_obj
def sync(obj: Context, guild: int | None) -> None:
    """Sync the slash commands with Discord."""
    from bot.runner import sync_commands

    names = run_async(lambda: sync_commands(obj.settings, guild))
    click.echo(f"synced {len(names)} commands {'to guild ' + str(guild) if guild else 'globally'}: {', '.join(names)}")
