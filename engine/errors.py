"""Errors the engine raises: each carries a short, user-safe, one-line message."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every engine failure; `message` is safe to show to a user as is."""

    def __init__(self, message: str) -> None:
        # One line only: the message ends up in a Discord reply or a CLI error line.
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    @property
    def user_message(self) -> str:
        """The message, safe to show a user (the services' error funnel reads this)."""
        return self.message


class InvalidRequest(EngineError):
    """The request asks for something out of range or inconsistent."""


class ModelUnavailable(EngineError):
    """A base model or a LoRA cannot be loaded (missing weights, unsafe format, unsupported family)."""


class Cancelled(EngineError):
    """The job was cancelled: before it started, or between two of its steps. The one cancellation error."""

    def __init__(self, message: str = "The job was cancelled.") -> None:
        super().__init__(message)


class Stopped(Cancelled):
    """Cancelled after saving what the work had done: `outcome` is that (a training's last checkpoint)."""

    def __init__(self, outcome: object, message: str = "The job was stopped; its work so far was saved.") -> None:
        super().__init__(message)
        self.outcome = outcome


class OutOfMemory(EngineError):
    """The device ran out of memory even for a single image."""
