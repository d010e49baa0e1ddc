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
    from storage import open_database

    async def go() -> int:
        database = await open_database(obj.settings.db_path)
        try:
            return database.schema_version
        finally:
            await database.close()

    version = run_async(go)
    click.echo(f"database {obj.settings.db_path} at schema version {version}")


@db.command("delete-user")
@click.argument("user_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete_user(obj: Context, user_id: int, yes: bool) -> None:
    """Delete everything stored about a Discord user (prompts, images, reactions, training items)."""
    from storage import open_database
    from studio.privacy import delete_user_data

    if not yes:
        click.confirm(f"Delete all data of user {user_id}?", abort=True)

    async def go() -> dict[str, int]:
        database = await open_database(obj.settings.db_path)
        try:
            return await delete_user_data(database, user_id)
        finally:
            await database.close()

    counts = run_async(go)
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()) or "nothing stored for that user")
