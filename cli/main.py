"""The `studio` command line: runs the bot, and the same jobs locally.

Every error ends as one line on stderr and a non-zero exit (`StudioGroup.main`); the log file in the data folder,
or `--verbose`, keeps the details. The global options may come before or after the subcommand.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.commands import COMMANDS
from cli.commands._support import INTERRUPTED_EXIT, Context
from studio.errors import UserFacing, cli_wording
from studio.settings import SettingsError, load_settings, prepare_data_dir

log = logging.getLogger(__name__)

# The group's options, and whether each takes a value: accepted after the subcommand too (`hoist_global_options`).
GLOBAL_OPTIONS = {"--data-dir": True, "--env-file": True, "--log-level": True, "--verbose": False}
# Subcommands that run the engine, with the second-level commands among them that only read (None: all run it).
_ENGINE_COMMANDS: dict[str, frozenset[str] | None] = {
    "run": None,
    "generate": None,
    "demo": None,
    "describe": None,
    "vary": None,
    "edit": None,
    "train": frozenset({"list"}),
    "web": frozenset({"url", "token"}),
}
_DETAILS = "run again with --verbose for the details"


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move the global options to the front, so `studio generate "x" --data-dir D` reads as
    `studio --data-dir D generate "x"`. Everything after `--` stays as it is."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            if takes_value and i + 1 == len(args):  # moved to the front, it would swallow the subcommand's name
                raise click.UsageError(f"Option '{name}' requires an argument.")
            front.extend(args[i : i + 2] if takes_value else [arg])
            i += 2 if takes_value else 1
            continue
        rest.append(arg)
        i += 1
    return front + rest


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _log_file() -> str | None:
    """Where this process logs, if to a file (set up by the group's callback)."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_studio", False) and isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line a failed command prints, and its exit code."""
    if isinstance(exc, click.UsageError):
        where = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
        return f"error: {_one_line(exc.format_message()).rstrip('.')}{where}", exc.exit_code
    if isinstance(exc, click.ClickException):
        return f"error: {cli_wording(_one_line(exc.format_message()))}", exc.exit_code
    if isinstance(exc, UserFacing) and isinstance(exc.user_message, str) and exc.user_message:
        return f"error: {cli_wording(_one_line(exc.user_message))}", 1
    if isinstance(exc, SettingsError):
        return f"error: {_one_line(str(exc))}", 1
    if isinstance(exc, OSError) and exc.filename is not None:
        # A file or folder the command was given (or made) that the system refused.
        if isinstance(exc, FileExistsError | NotADirectoryError) and Path(exc.filename).is_file():
            return f"error: {exc.filename} is a file where a folder is needed; give another path", 1
        reason = exc.strerror or type(exc).__name__
        return f"error: {exc.filename}: {reason}; check the path and that it may be written there", 1
    text = _one_line(str(exc))[:300] or "no message"
    where = f" (the traceback is in {_log_file()})" if _log_file() else ""
    return f"error: unexpected {type(exc).__name__}: {text}; {_DETAILS}{where}", 1


class StudioGroup(click.Group):
    """The `studio` group: global options anywhere, and every failure as one line with a non-zero exit."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            argv = hoist_global_options(sys.argv[1:] if args is None else args)
        except click.UsageError as exc:
            if not standalone_mode:
                raise
            click.echo(error_line(exc)[0], err=True)
            sys.exit(exc.exit_code)
        if not standalone_mode:  # a caller that handles click's exceptions itself
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        verbose = "--verbose" in argv[: argv.index("--")] if "--" in argv else "--verbose" in argv
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `studio models` alone: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # click's own Ctrl+C handling, outside any job
                click.echo("interrupted", err=True)
                sys.exit(INTERRUPTED_EXIT)
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except Exception as exc:
            self._fail(exc, verbose)
        sys.exit(code if isinstance(code, int) else 0)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        # The subcommand's own arguments, for the callback's early checks (click hands them on only after it).
        ctx.meta["studio.subcommand_args"] = list(args[1:])
        return super().resolve_command(ctx, args)

    @staticmethod
    def _fail(exc: Exception, verbose: bool) -> NoReturn:
        line, code = error_line(exc)
        if not isinstance(exc, click.ClickException):
            # The traceback of a bug goes to the log file (and above the line with --verbose); a known cause's
            # line says it all, so its traceback is logged only when asked for.
            known = isinstance(exc, UserFacing | SettingsError | OSError)
            log.log(logging.DEBUG if known and not verbose else logging.ERROR, "%s", line, exc_info=exc)
            if verbose and not any(getattr(h, "_studio", False) for h in logging.getLogger().handlers):
                import traceback  # failed before logging was set up

                traceback.print_exception(exc, file=sys.stderr)
        click.echo(line, err=True)
        sys.exit(code)


def _check_device(ctx: click.Context, settings: Any) -> None:
    """STUDIO_DEVICE=cuda on a machine without a GPU: say so before any job is queued."""
    command = ctx.invoked_subcommand
    if command not in _ENGINE_COMMANDS:
        return
    readers = _ENGINE_COMMANDS[command]
    words = ctx.meta.get("studio.subcommand_args", [])
    if readers is not None and words[:1] and words[0] in readers:
        return
    from studio.device import check_device

    check_device(settings.engine.device)  # a DeviceError says what to set


@click.group(cls=StudioGroup)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Overrides STUDIO_DATA_DIR.")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path(".env"), show_default=True)
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), help="Overrides STUDIO_LOG_LEVEL."
)
@click.option("--verbose", is_flag=True, help="Show the log, and the traceback of an error, in the terminal.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, env_file: Path, log_level: str | None, verbose: bool) -> None:
    """Self-hosted Discord image studio.

    The options above may also follow the subcommand: `studio generate "a cat" --data-dir D`.
    Errors are one line; the data folder's logs/studio.log, or --verbose, has the details.
    """
    from studio.logging_setup import setup_logging

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["STUDIO_DATA_DIR"] = data_dir
    if log_level is not None:
        overrides["STUDIO_LOG_LEVEL"] = log_level
    try:
        settings = load_settings(env_file=env_file if env_file.exists() else None, **overrides)
        folder = prepare_data_dir(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.engine.hf_offline:
        # Read by huggingface_hub when it is imported; set here, once, before any engine code runs.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if ctx.invoked_subcommand == "run":
        # The bot logs to its terminal (or its service manager's journal), as it always did.
        setup_logging(settings.log_level, secrets=settings.secrets)
    else:
        logs = folder / "logs"
        logs.mkdir(exist_ok=True)
        setup_logging(settings.log_level, secrets=settings.secrets, stderr=verbose, log_file=logs / "studio.log")
        # Library warnings (FutureWarning and the like) go to the log too, not between the command's lines.
        logging.captureWarnings(True)
    _check_device(ctx, settings)
    ctx.obj = Context(settings)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="studio")


for _command in COMMANDS:
    cli.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
