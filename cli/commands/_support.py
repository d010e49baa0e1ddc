"""What every `studio` subcommand shares: the settings read once, and one way to run a coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import click

from studio.contract import Caller
from studio.errors import StudioError
from studio.settings import Settings, SettingsError

LOCAL_USER = 0  # the CLI's jobs are recorded as made by user 0
# The machine's owner at the command line: every capability; no server's policy, only the model's own bounds.
LOCAL = Caller(user_id=LOCAL_USER, may_moderate=True, may_manage_server=True, bypasses_server_policy=True, origin="cli")


def local_caller(guild_id: int | None = None) -> Caller:
    """The machine's owner, acting on one server's schedules or sets (None: the ones made on this machine)."""
    return replace(LOCAL, guild_id=guild_id)


class Context:
    """What every subcommand gets (`@click.pass_obj`): settings, read once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Interrupted(Exception):
    """Ctrl+C ended a command; `message` says what became of its jobs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report a Ctrl+C


def run_async(coro_factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine, turning user-facing errors into one line and a non-zero exit, and Ctrl+C into exit 130."""
    try:
        return asyncio.run(coro_factory())
    except (StudioError, SettingsError) as exc:
        raise click.ClickException(exc.user_message if isinstance(exc, StudioError) else str(exc)) from None
    except Interrupted as exc:
        click.echo(exc.message, err=True)
        raise click.exceptions.Exit(INTERRUPTED_EXIT) from None
    except KeyboardInterrupt:  # before any job existed, or a second Ctrl+C while the first one was handled
        click.echo("interrupted", err=True)
        raise click.exceptions.Exit(INTERRUPTED_EXIT) from None
