"""Shared helpers for repositories."""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING

from storage.errors import DuplicateError, NotFoundError

if TYPE_CHECKING:
    from storage.db import Database

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


class Repository:
    def __init__(self, db: Database) -> None:
        self._db = db


def check_slug(name: str, what: str) -> str:
    """Names are stored as given only if they already are safe slugs; the services slugify first."""
    if not isinstance(name, str) or not _SLUG.match(name):
        raise ValueError(
            f"{what} name {name!r} is not a slug: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def integrity_error(exc: sqlite3.IntegrityError, *, duplicate: str, missing: str) -> Exception:
    """Turn a constraint failure into an error that says what went wrong."""
    text = str(exc)
    if "UNIQUE" in text or "PRIMARY KEY" in text:
        return DuplicateError(duplicate)
    if "FOREIGN KEY" in text:
        return NotFoundError(missing)
    return exc
