"""The one error type the Discord layer and the CLI show to users."""

from __future__ import annotations


class StudioError(Exception):
    """A failure with a short, user-safe message that says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StudioError):
    """The thing a button or command points at is gone."""


class Refused(StudioError):
    """A policy (quota, role, limit, blocked word) refuses the request."""
