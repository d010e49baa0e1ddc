"""The one error type the Discord layer and the CLI show to users."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class UserFacing(Protocol):
    """Any error whose `user_message` is safe to show as is: short, one line, says what to do.

    StudioError and engine.errors.EngineError are; the error funnel shows any other error that is.
    """

    @property
    def user_message(self) -> str: ...


class StudioError(Exception):
    """A failure with a short, user-safe message that says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def user_message(self) -> str:
        return self.message


class NotFound(StudioError):
    """The thing a button or command points at is gone."""


class Refused(StudioError):
    """A policy (quota, role, limit, blocked word) refuses the request."""
