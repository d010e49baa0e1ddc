"""The `studio` subcommands, one module per area; `cli.main` adds each of `COMMANDS` to its group."""

from __future__ import annotations

import click

from cli.commands import (
    autopost_cmd,
    db_cmd,
    gen_cmd,
    image_cmd,
    models_cmd,
    run_cmd,
    train_cmd,
    trainset_cmd,
    web_cmd,
    workers_cmd,
)

COMMANDS: tuple[click.Command, ...] = (
    run_cmd.run,
    run_cmd.sync,
    gen_cmd.generate,
    gen_cmd.demo,
    image_cmd.describe,
    image_cmd.vary,
    image_cmd.edit,
    models_cmd.models,
    trainset_cmd.trainset,
    train_cmd.train,
    autopost_cmd.autopost,
    workers_cmd.workers,
    db_cmd.db,
    web_cmd.web,
)
