"""The `studio` command line: runs the bot, and the same jobs locally."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from bot.services.errors import StudioError
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)


class Context:
    """What every subcommand needs: settings, read once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


def _run(coro_factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine, turning user-facing errors into one line and a non-zero exit."""
    try:
        return asyncio.run(coro_factory())
    except (StudioError, SettingsError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    except KeyboardInterrupt:
        raise click.Abort from None


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Overrides STUDIO_DATA_DIR.")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path(".env"), show_default=True)
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), help="Overrides STUDIO_LOG_LEVEL."
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, env_file: Path, log_level: str | None) -> None:
    """Self-hosted Discord image studio."""
    from bot.logging_setup import setup_logging

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["STUDIO_DATA_DIR"] = data_dir
    if log_level is not None:
        overrides["STUDIO_LOG_LEVEL"] = log_level
    try:
        settings = load_settings(env_file=env_file if env_file.exists() else None, **overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    secret = settings.discord_token.get_secret_value() if settings.discord_token else ""
    setup_logging(settings.log_level if ctx.invoked_subcommand == "run" else "WARNING", secrets=(secret,))
    ctx.obj = Context(settings)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="studio")


def _register_commands() -> None:
    # Subcommands live in their own modules; importing them attaches them to `cli`.
    from bot.commands import db_cmd, gen_cmd, image_cmd, models_cmd, run_cmd  # noqa: F401


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    # `python -m bot.cli` runs this file as __main__; the subcommands registered on the module `bot.cli`.
    from bot.cli import main as registered_main

    registered_main(sys.argv[1:])
