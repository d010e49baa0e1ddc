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
    ApiToken,
    Collection,
    DeletionReport,
    GalleryImage,
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
from storage.repos.gallery import ImageQuery, Scope, Sight

__all__ = [
    "ApiToken",
    "Collection",
    "Database",
    "DeletionReport",
    "DuplicateError",
    "GalleryImage",
    "GuildSettings",
    "ImageQuery",
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
    "Scope",
    "Sight",
    "StorageError",
    "TrainingItem",
    "TrainingSet",
    "latest_version",
    "open_database",
]
