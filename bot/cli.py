"""The `studio` command line: runs the bot, and the same jobs locally."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from bot.commands import COMMANDS
from bot.commands._support import Context
from bot.settings import SettingsError, load_settings

log = logging.getLogger(__name__)


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
    if settings.engine.hf_offline:
        # Read by huggingface_hub when it is imported; set here, once, before any engine code runs.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    secret = settings.discord_token.get_secret_value() if settings.discord_token else ""
    setup_logging(settings.log_level if ctx.invoked_subcommand == "run" else "WARNING", secrets=(secret,))
    ctx.obj = Context(settings)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="studio")


for _command in COMMANDS:
    cli.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
