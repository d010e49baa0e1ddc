"""Persistence for the studio bot: SQLite through aiosqlite, the only package that holds SQL."""

from storage.db import Database, open_database
from storage.errors import (
    DuplicateError,
    JobStateError,
    MigrationError,
    NotFoundError,
    SchemaTooNewError,
    StorageError,
)
from storage.migrate import latest_version
from storage.records import (
    DeletionReport,
    GuildSettings,
    ImageRecord,
    Job,
    JobFile,
    ModelRecord,
    Post,
    Reaction,
    RecoveryReport,
    Schedule,
    TrainingItem,
    TrainingSet,
)

__all__ = [
    "Database",
    "DeletionReport",
    "DuplicateError",
    "GuildSettings",
    "ImageRecord",
    "Job",
    "JobFile",
    "JobStateError",
    "MigrationError",
    "ModelRecord",
    "NotFoundError",
    "Post",
    "Reaction",
    "RecoveryReport",
    "Schedule",
    "SchemaTooNewError",
    "StorageError",
    "TrainingItem",
    "TrainingSet",
    "latest_version",
    "open_database",
]
