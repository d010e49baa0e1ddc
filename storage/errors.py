"""Errors raised by the storage layer; the services turn them into user-facing messages."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for storage failures."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer version of the bot than this one."""


class MigrationError(StorageError):
    """A migration file is missing, misnamed or failed to apply."""


class DuplicateError(StorageError, ValueError):
    """A unique name is already taken."""


class JobStateError(StorageError):
    """A job is not in a state that allows the requested transition."""


class NotFoundError(StorageError, LookupError):
    """The row a method was asked to change does not exist."""
