"""The database's admin tasks (`studio db`): each opens the database, and so applies pending migrations."""

from __future__ import annotations

from storage import open_database
from studio.privacy import delete_user_data
from studio.settings import Settings


async def upgrade_database(settings: Settings) -> int:
    """Create the database or bring it to the latest schema; the schema version it is at now."""
    database = await open_database(settings.db_path)
    try:
        return database.schema_version
    finally:
        await database.close()


async def forget_user(settings: Settings, user_id: int) -> dict[str, int]:
    """Delete everything stored about `user_id` (rows, then files); what was deleted, by kind, with counts."""
    database = await open_database(settings.db_path)
    try:
        return await delete_user_data(database, user_id, settings.thumbs_dir)
    finally:
        await database.close()
