"""`studio db ...`: the database's admin tasks."""

from __future__ import annotations

import click

from cli.commands._support import Context, run_async


@click.group()
def db() -> None:
    """Database tasks."""


@db.command("upgrade")
@click.pass_obj
def upgrade(obj: Context) -> None:
    """Create the database or apply pending migrations."""
    from studio.database import upgrade_database

    version = run_async(lambda: upgrade_database(obj.settings))
    click.echo(f"database {obj.settings.db_path} at schema version {version}")


@db.command("delete-user")
@click.argument("user_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete_user(obj: Context, user_id: int, yes: bool) -> None:
    """Delete everything stored about a Discord user (prompts, images, reactions, training items)."""
    from studio.database import forget_user

    if not yes:
        click.confirm(f"Delete all data of user {user_id}?", abort=True)
    counts = run_async(lambda: forget_user(obj.settings, user_id))
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()) or "nothing stored for that user")
